"""Every C test in native/tests/ runs on the host build, and under qemu-user for every ARM
board build with that board's CPU model (a Cortex-A72 traps dotprod instructions)."""
import pytest

from native_build import ARM_BOARDS, build, c_tests, run_program

BOARDS = ["host"] + ARM_BOARDS


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("test", c_tests())
def test_c_program_passes(board, test):
    program = build(board) / "tests" / test
    r = run_program(board, program)
    assert r.returncode == 0, f"{board}/{test} exit {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
