//! OpenVEX v0.2.0 documents: rules read from them and written as them.
