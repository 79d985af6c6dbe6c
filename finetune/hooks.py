"""What a training loop tells those who watch it: the step timer (finetune.step_recorder.StepRecorder), the harness's
progress (bench.session.progress), its planted slowdown (bench.session.gating) and the profile (finetune.profile).

    hooks = HookList([timer, *callbacks], steps=steps_per_epoch, epochs=epochs)   # an engine's own loop
    hooks.on_train_begin()
    for epoch in range(epochs):
        hooks.on_epoch_begin(epoch)
        for batch in range(steps_per_epoch):
            hooks.on_train_batch_begin(batch)
            ...                                                     # the step, finished on the device
            hooks.on_train_batch_end(batch, {"loss": running_mean})  # the epoch's running mean, as Keras reports it
        hooks.on_epoch_end(epoch, {"loss": running_mean})
    hooks.on_train_end()

The methods are a Keras callback's, by name and arguments, so the Keras engines hand them to fit() through one
adapter (finetune/engines/keras_callbacks.py); an engine without Keras calls them from its loop. Imports no
framework.
"""

from __future__ import annotations

EVENTS = ("on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end", "on_epoch_end",
          "on_train_end")


class Hooks:
    """The events of one fit(), each a no-op here: a subclass overrides those it needs. `params` is set before
    on_train_begin: {"steps": steps per epoch, "epochs": epochs} (Keras gives more; these two are what is read)."""

    def __init__(self):
        super().__init__()
        self.params: dict = {}

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        """logs["loss"]: the epoch's running mean loss after this batch (`batch` counts from 0 in each epoch)."""

    def on_epoch_end(self, epoch, logs=None):
        """logs["loss"]: the epoch's mean loss."""

    def on_train_end(self, logs=None):
        pass


def overridden(hooks: Hooks) -> tuple:
    """The events `hooks` does something on (Keras skips the batch events of callbacks that have none)."""
    return tuple(name for name in EVENTS if getattr(type(hooks), name, None) is not getattr(Hooks, name))


class HookList(Hooks):
    """Several hooks as one, called in order, their params set: for an engine that runs its own loop."""

    def __init__(self, hooks, steps: int, epochs: int):
        super().__init__()
        self.hooks = list(hooks)
        self.params = {"steps": steps, "epochs": epochs}
        for hook in self.hooks:
            hook.params = dict(self.params)

    def _each(self, name, *args):
        for hook in self.hooks:
            getattr(hook, name)(*args)

    def on_train_begin(self, logs=None):
        self._each("on_train_begin", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._each("on_epoch_begin", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._each("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._each("on_train_batch_end", batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each("on_epoch_end", epoch, logs)

    def on_train_end(self, logs=None):
        self._each("on_train_end", logs)
