"""Diagnosis assistant over a knowledge base: ``kbqa.diagnose.diagnose(kb, text, k=10)``.

Symptoms in, ranked candidate conditions out, each with cited evidence sentences, plus red flags for
descriptions that suggest an emergency. Decision support, not a diagnosis. The core never imports
this package (tests/test_layers.py); the CLI (`kbqa diagnose`) and the server (`POST /diagnose`) do.
"""

from kbqa.diagnose.assistant import diagnose
from kbqa.diagnose.differential import Condition, ConditionEvidence, Diagnosis, ScoringParams
from kbqa.diagnose.redflags import RULES, RedFlag, red_flags

__all__ = ["Condition", "ConditionEvidence", "Diagnosis", "RULES", "RedFlag", "ScoringParams", "diagnose", "red_flags"]
