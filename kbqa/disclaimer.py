"""The disclaimer every face of kbqa shows (CLI help and answers, HTTP API answers and docs)."""

DISCLAIMER = (
    "kbqa is decision support for professionals, not a diagnosis or medical advice: "
    "check the cited evidence."
)
