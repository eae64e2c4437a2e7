"""What an open question wants: its type (``treatment``, ``side_effects``, ...) and its focus (the
condition or medicine it is about). Inference only: the classifier is trained by ``kbqa train classifier``
(or :mod:`kbqa.intent.train_qtype`) and loaded lazily by :mod:`kbqa.intent.detect`."""
