"""Each escaper of colab.quoting gives the value back exactly when its language's reader reads it."""

from __future__ import annotations

import subprocess
import tomllib
import xml.parsers.expat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colab import quoting
from tests.harness import formats

HOSTILE = ["%", "\\", "'", '"', "$(id)", "`id`", ";", " ", "{{ x }}", "{%", "{#", "ü", "#", "\\%", "%%", "\\\\"]
pieces = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=3)), max_size=8).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_toml_string_reads_back_with_tomllib(value: str) -> None:
    assert tomllib.loads(f"v = {quoting.toml_string(value)}\n")["v"] == value


def test_toml_string_escapes_del_and_controls_a_literal_string_would_not_allow() -> None:
    assert quoting.toml_string('a"b\x7f') == '"a\\"b\\u007F"'  # not the literal 'a"b<DEL>', invalid TOML
    assert quoting.toml_string('say "hi"') == "'say \"hi\"'"


@settings(max_examples=300, deadline=None)
@given(pieces)
def test_tera_leaves_no_expression_and_reads_back(value: str) -> None:
    assert formats.tera_text(quoting.tera(value)) == value


@settings(max_examples=300, deadline=None)
@given(pieces)
def test_fstab_field_has_no_white_space_and_reads_back(value: str) -> None:
    field = quoting.fstab(value)
    assert not any(ch in field for ch in " \t\n")
    assert quoting.fstab_unescape(field) == value


@settings(max_examples=300, deadline=None)
@given(pieces.filter(lambda v: "".join(v.splitlines()) == v))  # one line: the inventory refuses line breaks
def test_systemd_value_has_no_specifier(value: str) -> None:
    unit = formats.systemd_unit(f"[Mount]\nWhere=/{quoting.systemd(value)}X\n")
    assert unit["Mount"]["Where"] == f"/{value}X"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_xml_comment_is_a_valid_comment(value: str) -> None:
    parser = xml.parsers.expat.ParserCreate()
    text = "".join(ch for ch in value if ch in "\t\n\r" or (ord(ch) >= 0x20 and ch not in "\ufffe\uffff"))
    text = "".join(ch for ch in text if not 0xD800 <= ord(ch) <= 0xDFFF)
    parser.Parse(f"<r><!-- {quoting.xml_comment(text)} --></r>", True)


VALUES = ["/srv/plain", "/srv/my colab", "/srv/100%", "/srv/a\\%b", "/srv/a\\\\%%b", "/srv/it's", '/srv/"q"',
          "/srv/$(touch /tmp/x)", "/srv/`id`;id", "/srv/\\", "/srv/ü {{ x }}"]  # fmt: skip


@pytest.mark.parametrize("value", VALUES)
def test_cron_word_reaches_the_command_exactly(value: str) -> None:
    """Through a cron that handles `%` (Debian's) and one that does not (busybox), then the shell."""
    word = quoting.cron_word(value)
    line = f"15 3 * * * root {word} daily\n"
    (entry,) = formats.cron_d(line)[1]
    for command in (formats.cron_command(entry.command), entry.command):
        out = subprocess.run(["sh", "-c", f"printf '%s|' {command}"], capture_output=True, text=True, check=True)
        assert out.stdout == f"{value}|daily|"


def test_cron_word_refuses_a_line_break() -> None:
    with pytest.raises(ValueError, match="a cron line cannot hold a line break"):
        quoting.cron_word("/srv/a\nb")


@pytest.mark.parametrize(
    ("path", "stem"),
    [
        ("/mnt/fortress", "mnt-fortress"),
        ("/mnt/my fort %i", "mnt-my\\x20fort\\x20\\x25i"),
        ("/.x/a-b", "\\x2ex-a\\x2db"),
    ],
)
def test_systemd_escape_path(path: str, stem: str) -> None:
    assert quoting.systemd_escape_path(path) == stem
