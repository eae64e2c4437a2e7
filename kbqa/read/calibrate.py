"""A reader's calibration (temperature and abstention threshold) as ``calibration.json`` holds it; fitted on dev
by kbqa.read.train_calibration."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kbqa.errors import KbqaError

CALIBRATION_FILE = "calibration.json"
# Index chunks are up to ~200 tokens: the reader reads at least this many tokens, whatever it was
# trained on, and is calibrated at the same length.
MIN_INFERENCE_LENGTH = 288


@dataclass(frozen=True)
class Calibration:
    """``temperature`` divides logits; verdicts whose confidence is below ``threshold`` abstain.

    ``sentences`` (optional) is a second calibration for the verdict `ask` reads from a document's
    concluding sentences: the reader is much surer, and more often right, on a conclusion than on a
    whole passage or an abstract without it, so one temperature cannot calibrate both inputs. It is
    fitted on dev question + conclusion (``LONG_ANSWER``) pairs; None: ``temperature``/``threshold``."""

    temperature: float = 1.0
    threshold: float = 0.0
    sentences: Calibration | None = None

    def for_sentences(self) -> Calibration:
        """The calibration of a verdict read from concluding sentences."""
        return self.sentences or self


def _parse(raw: dict) -> Calibration:
    return Calibration(temperature=float(raw["temperature"]), threshold=float(raw["threshold"]))


def load_calibration(model_dir: str | Path) -> Calibration:
    """The folder's calibration, or the identity (T=1, never abstain on confidence) when absent."""
    path = Path(model_dir) / CALIBRATION_FILE
    if not path.is_file():
        return Calibration()
    try:
        raw = json.loads(path.read_text())
        cal = _parse(raw)
        if raw.get("sentences") is not None:
            cal = Calibration(cal.temperature, cal.threshold, _parse(raw["sentences"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KbqaError(f"{path}: malformed calibration ({exc}); delete it or rerun calibration") from exc
    for part in (cal, cal.sentences):
        if part is not None and (not part.temperature > 0 or not 0 <= part.threshold <= 1):
            raise KbqaError(f"{path}: temperature must be > 0 and threshold in [0, 1], got {part}")
    return cal
