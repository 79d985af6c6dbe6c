"""`python -m finetune`, except that worker 1 of a multi-worker world kills itself (SIGKILL) after its third
training step, writing the time of its death to $KILL_WORKER_STAMP first: tests/test_multi_worker.py's kill test."""

import os
import runpy
import signal
import sys
import time

from finetune import cluster
from finetune.engines import tf_keras

step_timer = tf_keras.step_timer


def dying_step_timer():
    timer = step_timer()
    if cluster.World.from_env().index != 1:
        return timer

    class Dying(type(timer)):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            if batch == 2:
                with open(os.environ["KILL_WORKER_STAMP"], "w") as stamp:
                    stamp.write(str(time.time()))
                os.kill(os.getpid(), signal.SIGKILL)

    return Dying()


tf_keras.step_timer = dying_step_timer
sys.argv = ["finetune", *sys.argv[1:]]
runpy.run_module("finetune", run_name="__main__", alter_sys=True)
