"""The user-facing functions, one module per command; the CLI parses arguments and calls these.

train.py, pretrain.py, finetune.py   training runs (OmniVec family)
evaluate.py, predict.py, embed.py    using a run
search.py, export.py, merge.py       indexes, ONNX export, weight merging
info.py, task_list.py                what a run and the catalogue hold
inputs.py, user_data.py              raw samples and file paths in, your own data folders on a config
probe.py, recon_figure.py            what a pretraining run reports at its end
"""
