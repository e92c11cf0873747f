"""The analyzer's learned models: a line-format classifier and a token-role model.

Requires: scikit-learn, the generated corpus (`corpus.formats`) and optionally labelled
examples from feedback (`feedback`). Guarantees:

- `train(...)` is deterministic for a seed (fixed corpus seed, `random_state`, one thread),
  needs no network and returns `Models`: `classifier` (character 2–4-grams of the line, digits
  folded to 0, hashed; a linear model over format names, each format belonging to a family) and
  `roles` (hashed token features, `tokens.features`; a linear model over `ROLE_LABELS`).
- `Models.classify(lines)` gives per line the best format, its family and the probability;
  `Models.token_roles(tokens)` gives each header token's role and probability.
- `load_models(data_dir)` returns the models trained with the feedback stored beside the data
  (`<data>/analyzer/model.pkl`, written by `starbase learn train`) when present, else the base
  models, read from the user cache (`$XDG_CACHE_HOME/starbase/`) or trained once and cached
  there. Artefacts are pickles keyed by `MODEL_VERSION` and scikit-learn's version; a stale or
  unreadable one is retrained, never trusted.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier

from starbase.analyzer.corpus.formats import FORMATS, generate
from starbase.analyzer.corpus.lines import Labelled
from starbase.analyzer.timestamps import find_timestamp
from starbase.analyzer.tokens import Token, features, header_tokens

MODEL_VERSION = "2"
SEED = 20261206
PER_FORMAT = 150
ROLE_LABELS = ("level", "logger", "thread", "pid", "host", "service", "ident", "other", "message")
_CLASSIFIER_CHARS = 100
# hashed feature spaces: big enough that collisions cost nothing measurable on the corpus,
# small enough that the artefact stays a few MB (coefficients are stored sparse)
CLASSIFIER_FEATURES = 2**16
ROLE_FEATURES = 2**15
_TRAINED_FAMILIES = frozenset(
    {"app", "keyvalue", "delimited", "syslog3164", "syslog5424", "plain", "continuation"}
)


def _fold(text: str) -> str:
    return "".join("0" if ch.isdigit() else ch for ch in text[:_CLASSIFIER_CHARS])


def _vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        analyzer="char",
        ngram_range=(2, 4),
        n_features=CLASSIFIER_FEATURES,
        alternate_sign=False,
        lowercase=False,
        preprocessor=_fold,
        norm="l2",
    )


def _hasher() -> FeatureHasher:
    return FeatureHasher(n_features=ROLE_FEATURES, input_type="dict", alternate_sign=False)


@dataclass
class Prediction:
    format: str
    family: str
    probability: float


@dataclass
class Models:
    classifier: SGDClassifier
    roles: SGDClassifier
    families: dict[str, str]  # format name -> family
    # layouts learned from feedback: format name -> labelled examples (see `feedback`)
    learned: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def classify(self, lines: Sequence[str]) -> list[Prediction]:
        if not lines:
            return []
        probabilities = self.classifier.predict_proba(_vectorizer().transform(lines))
        best = probabilities.argmax(axis=1)
        classes = self.classifier.classes_
        return [
            Prediction(str(classes[k]), self.families.get(str(classes[k]), "app"), float(p[k]))
            for k, p in zip(best, probabilities, strict=True)
        ]

    def token_roles(self, lines: Sequence[list[Token]]) -> list[list[tuple[str, float]]]:
        """Role and probability of every non-timestamp token of each line (timestamps get
        `("timestamp", 1.0)`)."""
        rows: list[dict[str, float]] = []
        where: list[tuple[int, int]] = []
        for n, tokens in enumerate(lines):
            for i, token in enumerate(tokens):
                if not token.is_timestamp:
                    rows.append(features(tokens, i))
                    where.append((n, i))
        out: list[list[tuple[str, float]]] = [
            [("timestamp", 1.0)] * len(tokens) for tokens in lines
        ]
        if not rows:
            return out
        probabilities = self.roles.predict_proba(_hasher().transform(rows))
        classes = self.roles.classes_
        best = probabilities.argmax(axis=1)
        for (n, i), k, p in zip(where, best, probabilities, strict=True):
            out[n][i] = (str(classes[k]), float(p[k]))
        return out


# ---------------------------------------------------------------- training data


def token_examples(line: Labelled) -> tuple[list[Token], list[str]]:
    """Tokens of a labelled line and the role of each non-timestamp token."""
    ts = line.spans.get("timestamp")
    if ts is None and line.time_ns is not None:
        found = find_timestamp(line.text, line.time_ns)
        ts = (found.start, found.end) if found else None
    tokens = header_tokens(line.text, ts)
    message = line.spans.get("message")
    labels = []
    for token in tokens:
        if token.is_timestamp:
            labels.append("timestamp")
            continue
        if message is not None and token.outer_start >= message[0] and token.start < message[1]:
            labels.append("message")
            continue
        role = "other"
        for name, (lo, hi) in line.spans.items():
            if name not in ("message", "timestamp") and token.start < hi and lo < token.end:
                role = name
                break
        labels.append(role)
    return tokens, labels


def train(
    per_format: int = PER_FORMAT,
    seed: int = SEED,
    exclude: Sequence[str] = (),
    examples: Sequence[Labelled] = (),
    learned: dict[str, list[dict[str, Any]]] | None = None,
    example_weight: int = 20,
) -> Models:
    """Train both models on the generated corpus (minus `exclude`d formats) plus `examples`
    (labelled lines from feedback, each counted `example_weight` times)."""
    started = time.perf_counter()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # fixed epochs on purpose
    names = [n for n in sorted(FORMATS) if n not in set(exclude)]
    corpus = generate(names, per_format, seed)
    families = {n: FORMATS[n].family for n in names}
    for example in examples:
        families.setdefault(example.format, example.family)
    weighted = list(corpus) + [e for e in examples for _ in range(example_weight)]

    classifier = SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=6, tol=None, random_state=seed)
    classifier.fit(
        _vectorizer().transform([e.text for e in weighted]), [e.format for e in weighted]
    )

    rows: list[dict[str, float]] = []
    labels: list[str] = []
    from_feedback = {id(e) for e in examples}
    for line in weighted:
        if line.family not in _TRAINED_FAMILIES and id(line) not in from_feedback:
            continue
        tokens, roles = token_examples(line)
        for i, role in enumerate(roles):
            if role != "timestamp":
                rows.append(features(tokens, i))
                labels.append(role)
    roles_model = SGDClassifier(
        loss="log_loss", alpha=1e-5, max_iter=6, tol=None, random_state=seed
    )
    roles_model.fit(_hasher().transform(rows), np.asarray(labels))
    classifier.sparsify()
    roles_model.sparsify()
    info = {
        "version": MODEL_VERSION,
        "sklearn": sklearn.__version__,
        "seed": seed,
        "formats": len(names),
        "lines": len(corpus),
        "examples": len(examples),
        "tokens": len(rows),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return Models(classifier, roles_model, families, dict(learned or {}), info)


# ---------------------------------------------------------------- artefacts


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "starbase"


def base_model_path() -> Path:
    return _cache_dir() / f"analyzer-v{MODEL_VERSION}-sklearn{sklearn.__version__}.pkl"


def data_model_path(data_dir: Path) -> Path:
    return data_dir / "analyzer" / "model.pkl"


def save(models: Models, path: Path) -> int:
    """Write `models` atomically; returns the size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_bytes(payload)
    os.replace(temp, path)
    return len(payload)


def _read(path: Path) -> Models | None:
    try:
        with path.open("rb") as handle:
            models = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    if not isinstance(models, Models):
        return None
    info = models.info
    if info.get("version") != MODEL_VERSION or info.get("sklearn") != sklearn.__version__:
        return None
    return models


_MEMORY: dict[Path, tuple[float, Models]] = {}


def load_models(data_dir: Path | None = None) -> Models:
    """See the module docstring."""
    candidates = [data_model_path(data_dir)] if data_dir is not None else []
    candidates.append(base_model_path())
    for path in candidates:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        cached = _MEMORY.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        models = _read(path)
        if models is not None:
            _MEMORY[path] = (mtime, models)
            return models
    models = train()
    with contextlib.suppress(OSError):  # a read-only cache: use the models in memory
        save(models, base_model_path())
    return models
