//! possdk-host: acquirer host simulator (library; the binary is a thin wrapper).
