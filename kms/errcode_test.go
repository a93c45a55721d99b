package kms_test

// errCode is code, under a name the table's code parameter does not shadow.
var errCode = code
