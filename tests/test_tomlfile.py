"""The one TOML reader: depth is bounded before tomllib recurses; every failure is one line."""

import pytest

from sparsim.errors import SparsimError
from sparsim.tomlfile import MAX_NESTING, nesting_depth, read_toml


@pytest.mark.parametrize("text, depth", [
    ("a = 1", 0),
    ("[table]\na = [1, [2, [3]]]", 3),
    ('a = "[[[[" # ]]]]', 0),                      # brackets in strings and comments do not count
    ("a = '''[[[\n]]]'''\nb = [{c = [1]}]", 3),   # nor in multi-line literal strings
    ('a = "\\" [[" ', 0),                          # an escaped quote does not end the string
    ("[[workloads]]\nshapes = [{m = 1}]", 2),
])
def test_nesting_depth_counts_brackets_outside_strings(text, depth):
    assert nesting_depth(text) == depth


def test_deep_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1))
    with pytest.raises(SparsimError, match=rf"^study {path}: nested 33 levels deep; allowed: at most 32"):
        read_toml(path, "study")
    path.write_text("x = " + "[" * MAX_NESTING + "]" * MAX_NESTING)
    assert isinstance(read_toml(path, "study")["x"], list)  # 32 levels parse


def test_binary_file_is_one_line(tmp_path):
    path = tmp_path / "b.toml"
    path.write_bytes(b"\xff\xfe\x00x")
    with pytest.raises(SparsimError, match=r"^profile .*b.toml: cannot read: not UTF-8 text; allowed: a readable TOML"):
        read_toml(path, "profile")
