"""The studies this project reports, kept apart from the library they use (nothing in the library imports them).

quickstart.py                  the five-modality quickstart table (``omnivec quickstart``)
benchmark.py, baselines.py     one unified model against one reference specialist per task
ablations.py                   the recipe's ablations
label_scarce.py                the label-scarce protocol
reproduce.py, unival_reproduce.py   the ``reproduce`` pages of both families
unival_plan.py, unival_page.py the parts of a ``reproduce-unival`` seed; its page from their records
parts.py, ledger.py, stats.py  resumable parts, the committed ledger of their records, seed statistics
"""
