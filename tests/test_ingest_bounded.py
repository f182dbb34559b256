"""JSON, TOML and YAML parsed with bounds: depth, alias expansion and integer width refused cleanly,
while ordinary files (nested a little, big but real integers, anchors used sensibly) still read."""

import pytest

from rundiff.errors import RundiffError
from rundiff.ingest.bounded import MAX_NESTING, MAX_YAML_NODES, load_json, load_toml, load_yaml


def test_json_nesting_is_bounded_with_line():
    text = '{"a": 1,\n"x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(RundiffError, match="nested more than") as err:
        load_json(text, "c.json")
    assert err.value.line == 2


def test_json_nesting_within_bound_and_brackets_in_strings_read():
    inner = "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1)
    data = load_json('{"x": ' + inner + ', "s": "' + "[" * 500 + '", "e": "\\"[["}', "c.json")
    assert data["s"] == "[" * 500


@pytest.mark.parametrize("literal", ["9" * 4400, "9" * 41, str(2**63), str(-(2**63) - 1)])
def test_json_huge_integers_stay_text_never_converted(literal):
    assert load_json('{"lr": 1e-4,\n "x": ' + literal + "}", "c.json") == {"lr": 1e-4, "x": literal}


def test_json_large_but_real_integers_and_digits_in_strings_read():
    data = load_json('{"seed": 4294967295, "x": ' + str(2**63 - 1) + ', "name": "' + "9" * 500 + '"}', "c.json")
    assert data["seed"] == 4294967295 and data["x"] == 2**63 - 1


def test_json_nan_literal_refused():
    with pytest.raises(RundiffError, match="NaN"):
        load_json('{"x": NaN}', "c.json")


def test_toml_nesting_is_bounded():
    with pytest.raises(RundiffError, match="nested more than") as err:
        load_toml("learning_rate = 1e-4\nx = " + "[" * 100_000 + "]" * 100_000 + "\n", "c.toml")
    assert err.value.line == 2


@pytest.mark.parametrize("text", ["[" + ".".join(["a"] * 3000) + "]\nx = 1\n", ".".join(["k"] * 3000) + " = 1\n"])
def test_toml_tables_nested_by_dotted_keys_are_bounded(text):
    """`[a.a.a...]` and `k.k.k... = 1` nest without one bracket for the pre-scan to count."""
    with pytest.raises(RundiffError, match="nested more than 64 levels"):
        load_toml(text, "c.toml")


def test_toml_dotted_keys_within_the_bound_read():
    text = "[" + ".".join(["a"] * 30) + "]\nx = 1\n"
    data = load_toml(text, "c.toml")
    for _ in range(30):
        data = data["a"]
    assert data == {"x": 1}


def test_toml_brackets_in_strings_and_comments_and_table_headers_read():
    text = (
        '[[datasets]]\n[[datasets.subsets]]\nimage_dir = "' + "[" * 200 + '"\n# ' + "{" * 200 + "\n"
        "caption = '''\n" + "[" * 200 + "\n'''\n"
    )
    data = load_toml(text, "d.toml")
    assert data["datasets"][0]["subsets"][0]["image_dir"] == "[" * 200


@pytest.mark.parametrize(
    ("literal", "text"),
    [
        ("9" * 4400, "9" * 4400),
        ("1" + "0" * 400, "1" + "0" * 400),
        (str(2**63), str(2**63)),
        ("-9_223_372_036_854_775_809", "-9223372036854775809"),
    ],
)
def test_toml_integers_outside_64_bits_stay_text_and_the_rest_of_the_file_reads(literal, text):
    data = load_toml("learning_rate = 1e-4\nx = " + literal + "\n[t]\ny = [1, " + literal + "]\n", "c.toml")
    assert data == {"learning_rate": 1e-4, "x": text, "t": {"y": [1, text]}}


def test_toml_long_digit_runs_in_strings_and_comments_are_left_alone():
    digits = "7" * 60
    data = load_toml(f"name = \"run_{digits}\"  # seed {digits}\nlit = '{digits}'\nn = 3\n", "c.toml")
    assert data == {"name": f"run_{digits}", "lit": digits, "n": 3}


def test_toml_64_bit_integers_and_long_floats_read():
    data = load_toml(f"a = {2**63 - 1}\nb = -9_223_372_036_854_775_808\nc = 1{'0' * 60}.0\nd = 0xff\n", "c.toml")
    assert data["a"] == 2**63 - 1 and data["b"] == -(2**63) and data["c"] == 1e60 and data["d"] == 255


def test_toml_syntax_error_names_line():
    with pytest.raises(RundiffError, match="invalid TOML") as err:
        load_toml("a = 1\nb = = 2\n", "c.toml")
    assert err.value.line == 2


def test_yaml_nesting_is_bounded():
    with pytest.raises(RundiffError, match="nested more than"):
        load_yaml("learning_rate: 1.0e-4\nx: " + "[" * 2000 + "]" * 2000 + "\n", "c.yaml")


def test_yaml_block_nesting_is_bounded():
    text = "".join("  " * depth + f"k{depth}:\n" for depth in range(200)) + "  " * 200 + "v: 1\n"
    with pytest.raises(RundiffError, match="nested more than"):
        load_yaml(text, "c.yaml")


def test_yaml_alias_bomb_refused():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(RundiffError, match=f"more than {MAX_YAML_NODES}"):
        load_yaml("\n".join(lines) + "\n", "rundiff.yaml")


def test_yaml_anchors_and_merge_keys_used_sensibly_still_read():
    data, node = load_yaml("base: &b {lr: 1.0e-4, dim: 8}\nrun:\n  <<: *b\n  dim: 16\nagain: *b\n", "c.yaml")
    assert data["run"] == {"lr": 1e-4, "dim": 16} and data["again"]["dim"] == 8
    assert node is not None


def test_yaml_recursive_alias_refused():
    with pytest.raises(RundiffError, match="cycle"):
        load_yaml("a: &a [1, *a]\n", "c.yaml")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("network_dim: 8\nlearning_rate: !!float abc\n", 2),
        ("network_dim: 8\nname: !!float\n", 2),  # PyYAML indexes the empty scalar: an IndexError before
        ("x: !!python/object:os.system {}\n", 1),
    ],
)
def test_yaml_bad_tagged_values_are_one_error_with_line(text, line):
    with pytest.raises(RundiffError, match="invalid YAML") as err:
        load_yaml(text, "c.yaml")
    assert err.value.line == line


@pytest.mark.parametrize("literal", ["9" * 5000, "!!int " + "9" * 5000, str(2**64), str(-(2**63) - 1)])
def test_yaml_integers_outside_64_bits_stay_text_and_the_rest_reads(literal):
    data, _ = load_yaml(f"network_dim: {literal}\nlearning_rate: 1.0e-4\nseed: {2**63 - 1}\n", "c.yaml")
    assert data == {"network_dim": literal.removeprefix("!!int "), "learning_rate": 1e-4, "seed": 2**63 - 1}


def test_size_bounds():
    from rundiff.ingest.bounded import MAX_TOML_CHARS, MAX_YAML_CHARS

    with pytest.raises(RundiffError, match="KiB"):
        load_yaml("a: 1\n" * (MAX_YAML_CHARS // 5 + 1), "c.yaml")
    with pytest.raises(RundiffError, match="KiB"):
        load_toml("a = 1\n" * (MAX_TOML_CHARS // 6 + 1), "c.toml")
    assert load_yaml("a: 1\n" * 1000, "c.yaml")[0] == {"a": 1}


def test_yaml_control_characters_are_one_error():
    with pytest.raises(RundiffError, match="invalid YAML"):
        load_yaml("a: 1\x00\x07\n", "c.yaml")


def test_yaml_empty_document_is_none():
    assert load_yaml("", "c.yaml") == (None, None)


def test_yaml_builds_only_plain_values():
    data, _ = load_yaml("a: 2001-01-01\nb: !!timestamp 2001-99-99\nc: !!binary QUJD\nd: !!set {x, y}\n", "c.yaml")
    assert data == {"a": "2001-01-01", "b": "2001-99-99", "c": "QUJD", "d": ["x", "y"]}


def test_launch_script_over_the_size_bound_is_one_error(tmp_path):
    from rundiff.ingest.script import MAX_SCRIPT_BYTES, ingest_script

    path = tmp_path / "launch.sh"
    path.write_text("accelerate launch train_network.py " + "--a 1 " * (MAX_SCRIPT_BYTES // 6 + 1) + "\n")
    with pytest.raises(RundiffError, match="limit"):
        ingest_script(path)


def test_safetensors_metadata_entries_are_bounded():
    import json

    from rundiff.infer.header import MAX_METADATA_ENTRIES, parse_header

    raw = json.dumps({"__metadata__": {f"k{i}": "v" for i in range(MAX_METADATA_ENTRIES + 1)}}).encode()
    with pytest.raises(RundiffError, match="entries"):
        parse_header("lora.safetensors", raw, len(raw) + 8)
    raw = json.dumps({"__metadata__": {f"ss_k{i}": "v" for i in range(200)}}).encode()
    assert len(parse_header("lora.safetensors", raw, len(raw) + 8).metadata) == 200
