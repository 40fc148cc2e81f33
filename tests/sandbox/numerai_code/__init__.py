"""Scripts written as Numerai's own example code is, run against the sandbox unchanged (see test_numerai_code)."""
