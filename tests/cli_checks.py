"""What every CLI test of a user error checks, in one place."""


def assert_clear_error(result, *names: str, code: int = 2) -> None:
    """Exit `code`, an `error:` line that names each of `names`, and no traceback."""
    assert result.exit_code == code, result.output
    assert "error:" in result.output and "Traceback" not in result.output, result.output
    flat = "".join(result.output.split())  # rich wraps long lines at the terminal's width, also inside a path
    for name in names:
        assert "".join(name.split()) in flat, (name, result.output)
