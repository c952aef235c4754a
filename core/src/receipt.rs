//! Receipt lines (merchant copy) from a result. OWNER: engine helper.
