"""Drug–drug interactions: DDI 2013 corpus reader, blinding, training, evaluation and the KB check.

corpus.py (XML -> records) -> blind.py (pair -> blinded sentence) -> train.py / model.py (classifier)
-> evaluate.py (DDIExtraction 2013 scoring); interactions.py checks drug lists against a knowledge base;
comention.py loads the co-mention dev set that sets its reporting threshold.
"""
