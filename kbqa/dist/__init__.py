"""Distributed building on Ray (optional extra: ``pip install 'kbqa[dist]'``)."""
