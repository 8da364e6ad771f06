"""Inclusive-language check (Acuerdo 381 de 2009 del Concejo de Bogotá), driven by a data file.

The communications office owns the rule list: ``include/checks/lenguaje_incluyente.yml`` plus any
``*.yml`` in the folder named by ``CVP_INCLUSIVE_RULES_DIR``. All phrases are compiled into one
trie-shaped regular expression over accent- and case-folded text, so a 50,000-word text is one
pass, and the compiled set is cached until a rule file changes.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from .data import INCLUSIVE_RULES_FILE, data_file
from .textutil import SpanSet, fold_phrase, fold_with_offsets, link_spans, map_span, quoted_spans

log = logging.getLogger(__name__)

RULES_DIR_ENV = "CVP_INCLUSIVE_RULES_DIR"
_RULE_KEYS = {"id", "match", "suggest", "note", "pair", "enabled"}


class InclusiveRulesError(ValueError):
    """A rule file the loader cannot use; the message says which file and rule, in Spanish."""


@dataclass(frozen=True)
class InclusiveRule:
    """One rule: phrases to avoid and what to write instead."""

    id: str
    phrases: tuple[str, ...]  # as written in the file
    suggestions: tuple[str, ...]
    note: str | None = None
    pairs: tuple[str, ...] | None = None  # None: derive feminine forms from the phrases
    source: str = ""


@dataclass(frozen=True)
class InclusiveMatch:
    rule: InclusiveRule
    start: int
    end: int
    text: str

    def suggestion(self) -> str:
        """First suggestion, with the capitalisation of the matched words."""
        return match_case(self.text, self.rule.suggestions[0])


def match_case(original: str, replacement: str) -> str:
    letters = [c for c in original if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


# --- compiling ---------------------------------------------------------------------------------


def _derive_pairs(phrase: str) -> set[str]:
    """Feminine form of a phrase's last word ("ciudadanos" -> "ciudadanas"), used to spot doublets."""
    last = phrase.split()[-1]
    for masc, fem in (("ores", "oras"), ("or", "ora"), ("os", "as"), ("o", "a")):
        if last.endswith(masc):
            return {last[: -len(masc)] + fem}
    return set()


def _trie_pattern(phrases: Iterable[str]) -> str:
    """One alternation shaped as a trie, so the engine tests each position once, not once per phrase."""
    trie: dict = {}
    for phrase in phrases:
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}

    def atom(ch: str) -> str:
        return r"\s+" if ch == " " else re.escape(ch)

    def emit(node: dict) -> str:
        terminal = "" in node
        branches = [atom(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if terminal:
            return "(?:" + body + ")?"
        return body

    return emit(trie)


_CONNECTOR = r"(?:\s*[,/]\s*|\s+(?:y|e|o|u)\s+)"
_ARTICLE = r"(?:(?:las?|el|los|sus|nuestras|a\s+las|de\s+las|para\s+las)\s+)?"
_SLASH_FORM_RE = re.compile(r"\s*(?:\(\s*(?:as|a)\s*\)|/\s*(?:as|a)(?!\w))")
_PAIR_WINDOW = 60


@dataclass
class _Compiled:
    rule: InclusiveRule
    after: re.Pattern | None
    before: re.Pattern | None


class InclusiveRules:
    """A compiled rule set; ``find`` returns every unquoted whole-word match in a text."""

    def __init__(self, rules: Sequence[InclusiveRule]):
        self.rules: tuple[InclusiveRule, ...] = tuple(rules)
        self._by_phrase: dict[str, _Compiled] = {}
        for rule in self.rules:
            pairs = set(fold_phrase(p) for p in rule.pairs) if rule.pairs is not None else set()
            if rule.pairs is None:
                for phrase in rule.phrases:
                    pairs |= _derive_pairs(fold_phrase(phrase))
            pairs.discard("")
            after = before = None
            if pairs:
                alt = "|".join(sorted((re.escape(p).replace(r"\ ", r"\s+") for p in pairs), key=len, reverse=True))
                after = re.compile(_CONNECTOR + _ARTICLE + "(?:" + alt + r")(?!\w)")
                before = re.compile(r"(?<!\w)(?:" + alt + ")" + _CONNECTOR + r"$")
            compiled = _Compiled(rule, after, before)
            for phrase in rule.phrases:
                key = fold_phrase(phrase)
                if key in self._by_phrase and self._by_phrase[key].rule.id != rule.id:
                    log.warning(
                        "La frase %r aparece en las reglas %s y %s; se usa %s.",
                        key,
                        self._by_phrase[key].rule.id,
                        rule.id,
                        rule.id,
                    )
                self._by_phrase[key] = compiled
        if self._by_phrase:
            self._regex = re.compile(r"(?<![\w@])" + _trie_pattern(self._by_phrase) + r"(?!\w)")
        else:
            self._regex = None

    def __len__(self) -> int:
        return len(self.rules)

    def find(self, text: str, skip: SpanSet | None = None) -> list[InclusiveMatch]:
        """Whole-word matches outside quotes and links, with offsets into ``text``.

        ``skip`` replaces the link spans when the caller has already computed them.
        """
        if self._regex is None or not text:
            return []
        folded, index_map = fold_with_offsets(text)
        matches: list[InclusiveMatch] = []
        quoted = None
        for m in self._regex.finditer(folded):
            entry = self._by_phrase.get(" ".join(m.group(0).split()))
            if entry is None:  # cannot happen: every alternative comes from the table
                continue
            if _SLASH_FORM_RE.match(folded, m.end()):
                continue
            if entry.after is not None and entry.after.match(folded, m.end()):
                continue
            if entry.before is not None and entry.before.search(folded, max(0, m.start() - _PAIR_WINDOW), m.start()):
                continue
            start, end = map_span(m.start(), m.end(), index_map, text)
            if quoted is None:
                quoted = quoted_spans(text) | (skip if skip is not None else link_spans(text))
            if quoted.contains(start):
                continue
            matches.append(InclusiveMatch(entry.rule, start, end, text[start:end]))
        return matches


# --- loading -----------------------------------------------------------------------------------


def _as_tuple(value, what: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InclusiveRulesError("%s: «%s» debe ser un texto o una lista de textos no vacíos." % (where, what))
    return tuple(v.strip() for v in value)


def parse_rules_file(path: Path) -> list[tuple[InclusiveRule | None, str, bool]]:
    """Parse one YAML file into ``(rule, id, enabled)`` entries, validating every key."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InclusiveRulesError("%s no es YAML válido: %s" % (path, exc)) from exc
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("rules", []), list):
        raise InclusiveRulesError("%s: se espera una clave «rules» con una lista de reglas." % path)
    entries: list[tuple[InclusiveRule | None, str, bool]] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc.get("rules") or [], start=1):
        where = "%s, regla %d" % (path.name, i)
        if not isinstance(raw, dict):
            raise InclusiveRulesError("%s: cada regla debe ser un mapa con id, match y suggest." % where)
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise InclusiveRulesError(
                "%s: claves desconocidas %s; las válidas son %s."
                % (where, ", ".join(sorted(map(str, unknown))), ", ".join(sorted(_RULE_KEYS)))
            )
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not rule_id.strip():
            raise InclusiveRulesError("%s: falta «id»." % where)
        rule_id = rule_id.strip()
        where = "%s (%s)" % (where, rule_id)
        if rule_id in seen:
            raise InclusiveRulesError("%s: el id está repetido en el mismo archivo." % where)
        seen.add(rule_id)
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise InclusiveRulesError("%s: «enabled» debe ser true o false." % where)
        if not enabled:
            entries.append((None, rule_id, False))
            continue
        if "match" not in raw or "suggest" not in raw:
            raise InclusiveRulesError("%s: faltan «match» o «suggest»." % where)
        phrases = _as_tuple(raw["match"], "match", where)
        suggestions = _as_tuple(raw["suggest"], "suggest", where)
        pairs = None
        if "pair" in raw:
            pair_value = raw["pair"]
            if pair_value in (None, []):
                pairs = ()
            else:
                pairs = _as_tuple(pair_value, "pair", where)
        note = raw.get("note")
        if note is not None and not isinstance(note, str):
            raise InclusiveRulesError("%s: «note» debe ser texto." % where)
        rule = InclusiveRule(rule_id, phrases, suggestions, (note or "").strip() or None, pairs, path.name)
        entries.append((rule, rule_id, True))
    return entries


def rule_files(base: Path | None = None, extra_dir: str | os.PathLike | None = None) -> list[Path]:
    """The base file followed by the extra folder's ``*.yml``/``*.yaml`` files, in name order."""
    files = [Path(base) if base is not None else data_file(INCLUSIVE_RULES_FILE)]
    if extra_dir is None:
        extra_dir = os.environ.get(RULES_DIR_ENV) or None
    if extra_dir:
        folder = Path(extra_dir)
        if folder.is_dir():
            files += sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
        else:
            log.warning("%s=%s no es una carpeta; se usan solo las reglas base.", RULES_DIR_ENV, folder)
    return files


def build_rules(files: Sequence[Path]) -> InclusiveRules:
    """Merge files in order: a later rule with the same id replaces (or, disabled, removes) it."""
    merged: dict[str, InclusiveRule] = {}
    for path in files:
        for rule, rule_id, enabled in parse_rules_file(path):
            if not enabled:
                merged.pop(rule_id, None)
            else:
                merged.pop(rule_id, None)  # keep file order: the override goes last
                merged[rule_id] = rule
    return InclusiveRules(list(merged.values()))


_cache_lock = threading.Lock()
_cache: dict[tuple, InclusiveRules] = {}


def load_inclusive_rules(
    path: str | os.PathLike | None = None, extra_dir: str | os.PathLike | None = None
) -> InclusiveRules:
    """The compiled rule set, cached until a file is added, removed or modified.

    ``path`` defaults to ``include/checks/lenguaje_incluyente.yml``; ``extra_dir`` to the folder in
    ``CVP_INCLUSIVE_RULES_DIR``. Checking the cache costs one ``stat`` per file.
    """
    files = rule_files(Path(path) if path is not None else None, extra_dir)
    key = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    rules = _cache.get(key)
    if rules is not None:
        return rules
    with _cache_lock:
        rules = _cache.get(key)
        if rules is None:
            rules = build_rules(files)
            if len(_cache) > 16:
                _cache.clear()
            _cache[key] = rules
            log.info("Reglas de lenguaje incluyente cargadas: %d reglas de %d archivos.", len(rules), len(files))
    return rules
