"""The one place the Keras engines (tf_keras.py, keras3.py) turn finetune.hooks.Hooks into the callbacks fit()
takes. Imports no framework: the engine passes its Keras' Callback class."""

from __future__ import annotations

from finetune.hooks import overridden


def keras_callbacks(callback_class: type, hooks) -> list:
    """Each of `hooks` as a `callback_class` (tf_keras.callbacks.Callback, keras.callbacks.Callback): Keras' params
    handed on to the hook, and each event the hook overrides forwarded to it; the others stay Keras' defaults, so
    Keras skips the batch events of a hook that has none (and Keras 3 dispatches them asynchronously), as it would
    for a callback written for it."""
    return [adapted(callback_class, hook) for hook in hooks]


def adapted(callback_class: type, hook):
    def forward(name):
        def event(self, *args, **kwargs):
            return getattr(hook, name)(*args, **kwargs)

        event.__name__ = name
        return event

    def set_params(self, params):
        callback_class.set_params(self, params)
        hook.params = params

    methods = {"set_params": set_params, **{name: forward(name) for name in overridden(hook)}}
    return type(f"Keras{type(hook).__name__}", (callback_class,), methods)()
