"""Loading rule files: every mistake is named with its file, line and fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailbot.errors import RulesError
from mailbot.rules_file import default_rules_dir, load_rules, summary


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped rules."""
    target = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), target)
    return target


def _errors(directory: Path) -> list[str]:
    with pytest.raises(RulesError) as info:
        load_rules(directory)
    assert info.value.exit_code == 2
    return [str(p).replace(str(directory) + "/", "") for p in info.value.problems]


def _line_of(path: Path, text: str) -> int:
    """The 1-based line of ``path`` that holds ``text``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_rules_load() -> None:
    """The rules in the repository are valid, and the summary counts them."""
    text = summary(load_rules(default_rules_dir()))
    assert text.startswith("11 staff, 3 parents, 2 domains; 8 groups (6 owe a monthly article)")


def test_bad_yaml_names_the_line(rules_dir: Path) -> None:
    _replace(rules_dir / "groups.yaml", "  - code: KHTN\n", "  - code: [KHTN\n")
    [error] = _errors(rules_dir)
    assert error.startswith("groups.yaml:")
    assert "bad YAML" in error and "check indentation and quotes" in error


def test_unknown_key_suggests_the_right_one(rules_dir: Path) -> None:
    _replace(rules_dir / "people.yaml", "    title: Hiệu trưởng\n", "    titel: Hiệu trưởng\n")
    assert _errors(rules_dir) == [
        "people.yaml:8: unknown key 'titel' in a staff entry; did you mean 'title'? "
        "expected one of: address, name, role, group, title"
    ]


def test_unknown_group(rules_dir: Path) -> None:
    _replace(rules_dir / "people.yaml", "    group: KHTN\n", "    group: KHTX\n")
    [error] = _errors(rules_dir)
    assert error == (
        "people.yaml:25: group 'KHTX' is not in groups.yaml; did you mean 'KHXH'? "
        "expected one of: BGH, CNTT, KHTN, KHXH, VP, DOI, DOAN, CD"
    )


def test_unknown_topic(rules_dir: Path) -> None:
    _replace(rules_dir / "routing.yaml", "  XII: vanphong", "  XIII: vanphong")
    [error] = _errors(rules_dir)
    assert error.startswith("routing.yaml:41: unknown key 'XIII' in offices;")
    assert "expected one of: I, II, III, IV, V, VI, VII, VIII, IX, X, XI, XII" in error


def test_missing_topic(rules_dir: Path) -> None:
    text = (rules_dir / "topics.yaml").read_text(encoding="utf-8")
    cut = text.index("  XII:")
    (rules_dir / "topics.yaml").write_text(text[:cut], encoding="utf-8")
    assert _errors(rules_dir) == [
        "topics.yaml:9: topic XII is missing; the plan has sections I to XII"
    ]


def test_duplicate_address(rules_dir: Path) -> None:
    _replace(
        rules_dir / "people.yaml",
        "  - address: xuanlt1985@gmail.com",
        "  - address: HoaNT@thcspomlot.edu.vn",
    )
    assert _errors(rules_dir) == [
        "people.yaml:67: address hoant@thcspomlot.edu.vn is listed twice (first on line 21)"
    ]


def test_empty_keyword(rules_dir: Path) -> None:
    _replace(rules_dir / "topics.yaml", "      - bầu cử\n", "      - ''\n")
    assert _errors(rules_dir) == [
        "topics.yaml:12: a keyword in topic I.strong is empty; write a word or remove the line"
    ]


@pytest.mark.parametrize(
    ("name", "line_text", "second", "where"),
    [
        ("urgent.yaml", "    - bị đánh", "    - BỊ ĐÁNH", "signals.strong"),
        ("topics.yaml", "      - tận tụy", "      - tận tuỵ", "topic XII.strong"),
    ],
)
def test_a_phrase_written_twice_is_named(
    rules_dir: Path, name: str, line_text: str, second: str, where: str
) -> None:
    """Two spellings of one phrase (case, tone placement) would count twice: refused."""
    path = rules_dir / name
    line = _line_of(path, line_text)
    _replace(path, f"{line_text}\n", f"{line_text}\n{second}\n")
    first, again = line_text.strip("- "), second.strip("- ")
    assert _errors(rules_dir) == [
        f"{name}:{line + 1}: {again!r} in {where} is the same phrase as {first!r} "
        f"(line {line}): matching ignores case and tone-mark placement, so it would count "
        "twice; keep one"
    ]


def test_plain_ambiguous_takes_plain_syllables(rules_dir: Path) -> None:
    path = rules_dir / "kinds.yaml"
    line = _line_of(path, "  plain_ambiguous:")
    _replace(path, "plain_ambiguous: [anh,", "plain_ambiguous: [ảnh,")
    assert _errors(rules_dir) == [
        f"kinds.yaml:{line}: 'ảnh' in scoring.plain_ambiguous must be one syllable typed "
        "without diacritics, as plain text has it (anh, gap, hoi)"
    ]


def test_regex_that_does_not_compile(rules_dir: Path) -> None:
    good = "      - '71[-\\s]?nq/tw'"
    line = _line_of(rules_dir / "topics.yaml", good)
    _replace(rules_dir / "topics.yaml", good, "      - '71[-\\s?nq/tw'")
    [error] = _errors(rules_dir)
    assert error.startswith(f"topics.yaml:{line}: regex '71[-\\\\s?nq/tw' does not compile:")
    assert error.endswith("; fix the pattern")


def test_bad_role(rules_dir: Path) -> None:
    _replace(rules_dir / "people.yaml", "    role: leadership\n", "    role: principal\n")
    [error] = _errors(rules_dir)
    assert error == (
        "people.yaml:9: role is 'principal'; expected one of: leadership, it, teacher, staff"
    )


def test_duplicate_yaml_key(rules_dir: Path) -> None:
    _replace(rules_dir / "routing.yaml", "  media: Tư liệu\n", "  media: Tư liệu\n  media: Ảnh\n")
    assert _errors(rules_dir) == ["routing.yaml:5: duplicate key 'media'"]


def test_missing_file_and_stray_file(rules_dir: Path) -> None:
    (rules_dir / "urgent.yaml").rename(rules_dir / "urgents.yaml")
    errors = _errors(rules_dir)
    assert errors[0].startswith("urgent.yaml: is missing; every rules folder needs people.yaml")
    assert errors[1] == (
        "urgents.yaml: is not a rule file mailbot reads; did you mean 'urgent.yaml'? "
        "expected one of: people.yaml, groups.yaml, topics.yaml, kinds.yaml, urgent.yaml, "
        "routing.yaml"
    )


def test_wrong_type(rules_dir: Path) -> None:
    _replace(rules_dir / "urgent.yaml", "threshold: 3\n", "threshold: high\n")
    assert _errors(rules_dir) == ["urgent.yaml:7: threshold must be a number, not 'high'"]


def test_every_problem_is_reported_at_once(rules_dir: Path) -> None:
    _replace(rules_dir / "people.yaml", "    group: KHTN\n", "    group: KHTX\n")
    _replace(rules_dir / "urgent.yaml", "threshold: 3\n", "threshold: high\n")
    assert len(_errors(rules_dir)) == 2


def test_not_a_folder(tmp_path: Path) -> None:
    assert _errors(tmp_path / "nope") == [f"{tmp_path}/nope: is not a folder of rule files"]
