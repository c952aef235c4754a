//! Transactions as data, run by one executor. OWNER: engine helper.
