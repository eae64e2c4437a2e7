"""Treatment options for a condition over a knowledge base: ``kbqa.treat.treat(kb, condition, patient=None,
medications=(), k=10)``.

Options (medicines, procedures, therapies) found in the knowledge base's treatment passages about the
condition, each with cited sentences, warnings for the patient's situation and interactions with the
current medications. Options found in the literature for a professional to weigh, not a prescription.
The core never imports this package (tests/test_layers.py); the CLI (`kbqa treat`) and the server
(`POST /treat`) do.
"""

from kbqa.treat.assistant import NOTE, treat
from kbqa.treat.patient import Situation, situations
from kbqa.treat.records import Option, OptionWarning, Sentence, Treatment

__all__ = ["NOTE", "Option", "OptionWarning", "Sentence", "Situation", "Treatment", "situations", "treat"]
