"""Message texts in Simplified Chinese, Traditional Chinese and English (SPEC §7). Data, no logic."""

LANGUAGES = ("zh-Hans", "zh-Hant", "en")

TEMPLATES: dict[str, dict[str, str]] = {
    "request_received": {
        "zh-Hans": "您的贷款（尾号{loan_tail}）变更申请已受理，我们会尽快处理。",
        "zh-Hant": "您的貸款（尾號{loan_tail}）變更申請已受理，我們會盡快處理。",
        "en": "We have received your change request for loan ending {loan_tail}.",
    },
    "request_approved": {
        "zh-Hans": "您的贷款（尾号{loan_tail}）扣款日已变更为每月{new_debit_day}日，首个新还款日为{new_due_date}。",
        "zh-Hant": "您的貸款（尾號{loan_tail}）扣款日已變更為每月{new_debit_day}日，首個新還款日為{new_due_date}。",
        "en": "Your loan ending {loan_tail} is now debited on day {new_debit_day}; first new due date {new_due_date}.",
    },
    "repayment_approved": {
        "zh-Hans": "您的贷款（尾号{loan_tail}）提前还款{amount}已获批准，还款日为{requested_date}。",
        "zh-Hant": "您的貸款（尾號{loan_tail}）提前還款{amount}已獲批准，還款日為{requested_date}。",
        "en": "Early repayment of {amount} on loan ending {loan_tail} is approved for {requested_date}.",
    },
    "request_rejected": {
        "zh-Hans": "很抱歉，您的贷款（尾号{loan_tail}）申请未获通过：{reason}",
        "zh-Hant": "很抱歉，您的貸款（尾號{loan_tail}）申請未獲通過：{reason}",
        "en": "Sorry, your request for loan ending {loan_tail} was not accepted: {reason}",
    },
    "request_withdrawn": {
        "zh-Hans": "您已撤回贷款（尾号{loan_tail}）的申请。",
        "zh-Hant": "您已撤回貸款（尾號{loan_tail}）的申請。",
        "en": "Your request for loan ending {loan_tail} has been withdrawn.",
    },
    "request_expired": {
        "zh-Hans": "您的贷款（尾号{loan_tail}）申请未能在{deadline}前完成确认，已失效。",
        "zh-Hant": "您的貸款（尾號{loan_tail}）申請未能在{deadline}前完成確認，已失效。",
        "en": "Your request for loan ending {loan_tail} could not be confirmed before {deadline} and has lapsed.",
    },
    "request_completed": {
        "zh-Hans": "您的贷款（尾号{loan_tail}）变更已生效。",
        "zh-Hant": "您的貸款（尾號{loan_tail}）變更已生效。",
        "en": "The change to your loan ending {loan_tail} is now in effect.",
    },
    "booking_confirmed": {
        "zh-Hans": "预约成功：{date} {time}，{branch_name}（{branch_address}）。预约码 {code}。",
        "zh-Hant": "預約成功：{date} {time}，{branch_name}（{branch_address}）。預約碼 {code}。",
        "en": "Booked: {date} {time} at {branch_name} ({branch_address}). Booking code {code}.",
    },
    "booking_cancelled": {
        "zh-Hans": "您{date} {time}的预约已取消。",
        "zh-Hant": "您{date} {time}的預約已取消。",
        "en": "Your booking for {date} {time} is cancelled.",
    },
    "booking_reminder": {
        "zh-Hans": "提醒：您明天{time}在{branch_name}（{branch_address}）有预约，预约码 {code}。",
        "zh-Hant": "提醒：您明天{time}在{branch_name}（{branch_address}）有預約，預約碼 {code}。",
        "en": "Reminder: tomorrow at {time}, {branch_name} ({branch_address}). Booking code {code}.",
    },
    "checked_in": {
        "zh-Hans": "签到成功，您的优先号码是 {ticket}。",
        "zh-Hant": "簽到成功，您的優先號碼是 {ticket}。",
        "en": "You are checked in. Your priority ticket is {ticket}.",
    },
    "staff_call_task": {
        "zh-Hans": "新的共借人确认电话任务 {task_id}（贷款尾号{loan_tail}），截止 {due_by}。",
        "zh-Hant": "新的共借人確認電話任務 {task_id}（貸款尾號{loan_tail}），截止 {due_by}。",
        "en": "New co-borrower confirmation call {task_id} (loan ending {loan_tail}), due by {due_by}.",
    },
    "staff_deadline_near": {
        "zh-Hans": "紧急：确认电话任务 {task_id}（贷款尾号{loan_tail}）将于 {due_by} 到期，仍未完成。",
        "zh-Hant": "緊急：確認電話任務 {task_id}（貸款尾號{loan_tail}）將於 {due_by} 到期，仍未完成。",
        "en": "Urgent: confirmation call {task_id} (loan ending {loan_tail}) is still open and due by {due_by}.",
    },
}

# Each refusal in plain words (RequestRejected.reason_code); an unknown code falls back to the service's text.
REASONS: dict[str, dict[str, str]] = {
    "LOAN_NOT_FOUND": {"zh-Hans": "未找到该贷款。", "zh-Hant": "未找到該貸款。", "en": "the loan was not found."},
    "LOAN_NOT_ACTIVE": {"zh-Hans": "该贷款当前不可变更。", "zh-Hant": "該貸款目前不可變更。",
                        "en": "the loan cannot be changed in its current status."},
    "NOT_PRIMARY_BORROWER": {"zh-Hans": "只有主借款人可以申请。", "zh-Hant": "只有主借款人可以申請。",
                             "en": "only the primary borrower can apply."},
    "CO_BORROWERS_NOT_ALLOWED_ONLINE": {"zh-Hans": "有共借人的贷款需全体借款人到网点办理。",
                                        "zh-Hant": "有共借人的貸款需全體借款人到網點辦理。",
                                        "en": "loans with co-borrowers must be changed at a branch by all borrowers."},
    "DAY_OUT_OF_RANGE": {"zh-Hans": "所选扣款日不在允许范围内。", "zh-Hant": "所選扣款日不在允許範圍內。",
                         "en": "the chosen debit day is outside the allowed range."},
    "SAME_DAY": {"zh-Hans": "所选日期与当前扣款日相同。", "zh-Hant": "所選日期與目前扣款日相同。",
                 "en": "the chosen day is already your debit day."},
    "PAST_CUTOFF": {"zh-Hans": "申请已超过本期截止时间。", "zh-Hant": "申請已超過本期截止時間。",
                    "en": "the request arrived after this instalment's cut-off."},
    "OPEN_REQUEST_EXISTS": {"zh-Hans": "该贷款已有处理中的申请。", "zh-Hant": "該貸款已有處理中的申請。",
                            "en": "the loan already has a request in progress."},
    "VERIFICATION_REQUIRED": {"zh-Hans": "需要完成身份核实。", "zh-Hant": "需要完成身分核實。",
                              "en": "an identity verification is required."},
    "INVALID_AMOUNT": {"zh-Hans": "还款金额无效。", "zh-Hant": "還款金額無效。", "en": "the amount is not valid."},
    "INVALID_DATE": {"zh-Hans": "还款日期无效，请选择未来的工作日。", "zh-Hant": "還款日期無效，請選擇未來的工作日。",
                     "en": "the date is not valid; please choose a future business day."},
    "CO_BORROWER_DECLINED": {"zh-Hans": "共借人未同意本次变更。", "zh-Hant": "共借人未同意本次變更。",
                             "en": "a co-borrower did not agree to the change."},
    "CO_BORROWER_UNREACHABLE": {"zh-Hans": "多次致电未能联系到共借人。", "zh-Hant": "多次致電未能聯繫到共借人。",
                                "en": "we could not reach a co-borrower by phone."},
    "NOT_APPLICANT": {"zh-Hans": "只有申请人可以撤回申请。", "zh-Hant": "只有申請人可以撤回申請。",
                      "en": "only the applicant can withdraw the request."},
    "REQUEST_NOT_WITHDRAWABLE": {"zh-Hans": "该申请已无法撤回。", "zh-Hant": "該申請已無法撤回。",
                                 "en": "the request can no longer be withdrawn."},
    "REQUEST_NOT_FOUND": {"zh-Hans": "未找到该申请。", "zh-Hant": "未找到該申請。", "en": "the request was not found."},
}
