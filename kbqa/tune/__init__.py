"""Fine-tuning the retrieval models on in-domain pairs (train parts of the committed splits only).

- :mod:`kbqa.tune.pairs`: (query, positive passage, hard negative) triplets from MedQuAD, PubMedQA
  and the claims data, passages chunked as the index stores them;
- :mod:`kbqa.tune.mining`: hard negatives of one source, mined by BM25 and by the base dense model;
- :mod:`kbqa.tune.embedder`: the bi-encoder fine-tune (in-batch + hard negatives, resumable).
"""
