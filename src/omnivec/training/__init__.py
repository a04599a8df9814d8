"""Run machinery: how a model becomes a trained run folder, whatever it is trained on.

engine.py       the one training loop (AdamW, warmup+cosine, accumulation, clipping, DDP, EMA)
runner.py       the one run skeleton around it (folder check, seed, streams, save/resume, evaluate)
objective.py    what a step's loss is (supervised over tasks)
checkpoint.py   atomic checkpoints and run-folder files
state_check.py  weights and train state are checked before anything is applied
locking.py      one writer per run folder
logs.py         the loss log and its plot
warm_start.py   a new run from another run's weights
ema.py          the moving average of the weights (its decay warms up)
outputs.py      where a command may write
device.py       --device auto|cpu|cuda[:N]
"""
