"""The staff console: read models of every event stream and the pages of the people in the account (agents,
paper clerks, hotline staff, branch operators, supervisors, policy admins). It decides nothing: actions go to the
owning service's HTTP API as the signed-in person."""
