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
    "booking_rejected": {
        "zh-Hans": "很抱歉，{date} {time}的预约未能成功：{reason}",
        "zh-Hant": "很抱歉，{date} {time}的預約未能成功：{reason}",
        "en": "Sorry, we could not book {date} {time} for you: {reason}",
    },
    "booking_no_show": {
        "zh-Hans": "您{date} {time}的预约未签到，已失效。如需办理，请在手机银行App或微信中重新预约。",
        "zh-Hant": "您{date} {time}的預約未簽到，已失效。如需辦理，請在手機銀行App或微信中重新預約。",
        "en": "You did not check in for your booking on {date} at {time}, so it has lapsed. "
              "To come in, please book again in the app or on WeChat.",
    },
    "withdrawal_refused": {
        "zh-Hans": "您撤回申请的操作未能办理：{reason}",
        "zh-Hant": "您撤回申請的操作未能辦理：{reason}",
        "en": "We could not withdraw your request: {reason}",
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

# Each refusal in plain words (the reason_code of RequestRejected, CommandRejected and BookingRejected); an unknown
# code falls back to the service's text.
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
    "STAFF_REQUIRED": {"zh-Hans": "通过该渠道办理需由工作人员提交。", "zh-Hant": "透過該管道辦理需由工作人員提交。",
                       "en": "requests through this channel must be submitted by a member of staff."},
    "SUBMITTED_IN_FUTURE": {"zh-Hans": "申请时间晚于当前时间，请核对设备时间后重新提交。",
                            "zh-Hant": "申請時間晚於目前時間，請核對裝置時間後重新提交。",
                            "en": "the request is dated in the future; please check your device's clock and "
                                  "try again."},
    # Refused bookings (BookingRejected.reason_code).
    "BRANCH_CLOSED": {"zh-Hans": "该网点当天不营业。", "zh-Hant": "該網點當天不營業。",
                      "en": "the branch is closed that day."},
    "UNKNOWN_SLOT": {"zh-Hans": "该网点在所选时间没有可预约时段。", "zh-Hant": "該網點在所選時間沒有可預約時段。",
                     "en": "the branch has no appointment slot at that time."},
    "SLOT_FULL": {"zh-Hans": "所选时段已约满，请选择其他时段。", "zh-Hant": "所選時段已約滿，請選擇其他時段。",
                  "en": "that time is fully booked; please choose another time."},
    "DAY_FULL": {"zh-Hans": "该网点当天预约已满，请选择其他日期。", "zh-Hant": "該網點當天預約已滿，請選擇其他日期。",
                 "en": "the branch is fully booked that day; please choose another day."},
    "OUTSIDE_BOOKING_WINDOW": {"zh-Hans": "所选日期不在可预约范围内，请选择明天起可预约期内的日期。",
                               "zh-Hant": "所選日期不在可預約範圍內，請選擇明天起可預約期內的日期。",
                               "en": "that date cannot be booked yet or any more; please choose a date from tomorrow "
                                     "within the booking period."},
    "DUPLICATE_BOOKING": {"zh-Hans": "您当天在该网点已有预约。", "zh-Hant": "您當天在該網點已有預約。",
                          "en": "you already have a booking at this branch that day."},
    "UNKNOWN_BRANCH": {"zh-Hans": "未找到该网点。", "zh-Hant": "未找到該網點。", "en": "the branch was not found."},
}
