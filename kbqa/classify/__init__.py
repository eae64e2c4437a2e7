"""Text classification of labelled tables (cases, notes, questions): a fine-tuned BERT-style classifier.

- :mod:`kbqa.classify.data`: reading CSV/TSV/JSONL/Parquet tables through pandas, with checked columns;
- :mod:`kbqa.classify.model`: inference, ``load_text_classifier(path)`` (calibrated probabilities);
- :mod:`kbqa.classify.tfidf`: TF-IDF + logistic regression (the baseline, and an optional component);
- :mod:`kbqa.classify.train`: ``kbqa train classifier`` (the one training loop, via kbqa.read.train);
- :mod:`kbqa.classify.evaluate`: ``kbqa eval classifier`` (a model on a file, or K-fold CV with baselines).
"""
