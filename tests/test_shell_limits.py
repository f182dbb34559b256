"""The shell reader stays linear or capped on hostile scripts (fuzz reproducers H01-H04, C23-C25).

Each case is the reproducer's script, rebuilt here; it must finish fast with either a value (what
bash itself would give) or a clean, one-line refusal, never a hang, a huge integer or a traceback.
"""

from __future__ import annotations

import time

import pytest

from rundiff.errors import RundiffError
from rundiff.ingest.script import ingest_script
from rundiff.ingest.shell import read_script
from rundiff.ingest.shell_arith import ArithParser
from rundiff.ingest.shell_glob import trim
from rundiff.ingest.shell_words import MAX_VALUE_CHARS, ShellLimitError

LAUNCH = "accelerate launch train_network.py --network_dim 8 --learning_rate 1e-4 --max_train_steps 100"


def timed(fn, limit: float = 8.0):  # generous: the quadratic versions take minutes
    start = time.perf_counter()
    result = fn()
    assert time.perf_counter() - start < limit
    return result


def test_h01_hash_trim_is_linear_not_quadratic():
    value = "a" * 50_000  # under the value cap: the trim itself must be fast
    s = timed(lambda: read_script(f"X={value}\nrun ${{X#*Z}} ${{X%a}} ${{X##*a}} ${{X%%a*}}\n"))
    assert [len(t) for t in s.commands[-1].texts[1:]] == [50_000, 49_999]
    # the H01 shape: doubling past the cap is refused with one line naming the line
    text = "X=" + "a" * 64 + "\n" + "X=$X$X\n" * 13 + LAUNCH + " --output_name ${X#*Z}\n"
    with pytest.raises(ShellLimitError, match="line 1[0-9]"):
        timed(lambda: read_script(text))


def test_h01_glob_trim_agrees_with_bash_on_small_cases():
    assert trim("dir/sub/file.tar.gz", "#", "*/") == "sub/file.tar.gz"
    assert trim("dir/sub/file.tar.gz", "##", "*/") == "file.tar.gz"
    assert trim("dir/sub/file.tar.gz", "%", ".*") == "dir/sub/file.tar"
    assert trim("dir/sub/file.tar.gz", "%%", ".*") == "dir/sub/file"
    assert trim("abc", "#", "[!a]*") == "abc"
    assert trim("abc", "#", "?") == "bc"
    # several stars cannot backtrack: one pass over the value
    assert timed(lambda: trim("a" * 50_000, "##", "*a*a*a*a*b")) == "a" * 50_000


def test_h02_arithmetic_variable_fanout_is_memoised():
    text = "a0=1\n" + "".join(f"a{k}=a{k - 1}+a{k - 1}+a{k - 1}\n" for k in range(1, 19))
    s = timed(lambda: read_script(text + "run $((a18))\n"))
    assert s.commands[-1].texts == ["run", str(3**18)]


def test_h03_repeated_expansion_concat_is_capped():
    text = "x=" + "a" * 16 + "\n" + "x=$x$x\n" * 12 + "run " + "$x" * 300 + "\n"
    with pytest.raises(ShellLimitError, match=str(MAX_VALUE_CHARS)):
        timed(lambda: read_script(text))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("((2**64)**64)**64", 0),  # C23: bash wraps at 64 bits
        ("(((((2**64)**64)**64)**64)**64)**64", 0),  # H04
        ("2**63", -(2**63)),
        ("2**62 * 4 + 5", 5),
        ("9223372036854775807 + 1", -(2**63)),
        ("3**40", 3**40 - 2**64),  # wraps like bash: 12157665459056928801 - 2**64
    ],
)
def test_c23_h04_bash_arithmetic_is_64_bit(expr, expected):
    assert timed(lambda: ArithParser(expr, lambda _: 0).parse()) == expected


def test_c23_arith_pow_chain_in_a_script_is_a_value_not_a_crash():
    s = read_script("X=$(( ((2**64)**64)**64 ))\nrun $X\n")
    assert s.commands[-1].texts == ["run", "0"]


def test_c24_cmd_set_a_is_32_bit_without_power(tmp_path):
    lines = (
        ["set /a X=2**64"]
        + ["set /a X=X*X"] * 14
        + ["set /a Y=65536*65536+7", "set /a Z=2147483647+1", "run %X% %Y% %Z%"]
    )
    s = timed(lambda: read_script("\n".join(lines) + "\n", "cmd"))
    # `**` does not exist in cmd: X is never set, and X*X of an unset X is 0, as cmd gives
    assert s.commands[-1].texts == ["run", "0", "7", str(-(2**31))]


def test_c25_huge_array_index_is_refused_for_that_value_only(tmp_path):
    script = tmp_path / "launch.sh"
    script.write_text("a[9223372036854775808]=x\nb[5]=y\n" + LAUNCH + " --output_name=${b[5]}\n")
    [source] = timed(lambda: ingest_script(script))
    facts = {f.key: f.value for f in source.facts}
    assert facts["network_dim"] == "8"
    assert facts["output_name"] == "y"


def test_literal_too_long_for_64_bits_is_unresolved_not_converted():
    s = read_script("run $((" + "9" * 5000 + "))\n")
    assert s.commands[-1].texts == ["run"]
    assert s.commands[-1].unresolved and s.commands[-1].unresolved[0][0].startswith("$((999")


def test_limit_error_is_one_line_for_the_file(tmp_path):
    script = tmp_path / "grow.sh"
    script.write_text("x=aaaaaaaaaaaaaaaa\n" + "x=$x$x\n" * 20 + LAUNCH + "\n")
    with pytest.raises(RundiffError) as err:
        ingest_script(script)
    assert "\n" not in str(err.value) and "grow.sh" in str(err.value)


def test_command_count_and_width_are_capped():
    from rundiff.ingest.shell import MAX_COMMANDS
    from rundiff.ingest.shell_words import MAX_COMMAND_WORDS

    with pytest.raises(ShellLimitError, match="commands"):
        read_script("true\n" * (MAX_COMMANDS + 1))
    for dialect in ("posix", "cmd", "powershell"):
        with pytest.raises(ShellLimitError, match="words"):
            read_script("run " + "x " * (MAX_COMMAND_WORDS + 1) + "\n", dialect)
    assert read_script("run " + "x " * 500 + "\n").commands[0].texts[-1] == "x"  # a long real line is fine


def test_m04_an_empty_replace_pattern_matches_nothing_as_in_bash_and_growth_is_refused():
    """`${X///$Y}`: bash leaves X as it is (an empty pattern matches nothing); Python's
    str.replace("", y) would put Y between every character (M04 reached ~900 MiB before the cap)."""
    x, y = "a" * 60_000, "b" * 60_000
    s = timed(lambda: read_script(f"X={x}\nY={y}\nE=\nrun ${{X///$Y}} ${{X//$E/$Y}} ${{X/a/z}}\n"), limit=2.0)
    assert [len(t) for t in s.commands[-1].texts[1:]] == [60_000, 60_000, 60_000]
    assert s.commands[-1].texts[3].startswith("za")
    with pytest.raises(ShellLimitError, match="replacement makes a value over"):
        read_script(f"X={'a' * 1000}\nY={'b' * 1000}\nrun ${{X//a/$Y}}\n")
