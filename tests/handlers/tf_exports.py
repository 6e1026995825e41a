"""SavedModels exported the way users export them: Keras 3 ``model.export`` and
``ExportArchive``, ``tf.Module`` signatures on dicts, strings and serialized ``tf.train.Example``,
a static batch size, and outputs without a batch axis."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def keras_dict_inputs(path: Path) -> Path:
    """A Keras 3 functional model on two named inputs, ``age`` [N, 1] and ``clicks`` [N, 3],
    exported with ``model.export``: ``score = age + sum(clicks)`` ([N, 1])."""
    import keras

    age = keras.Input(shape=(1,), name="age")
    clicks = keras.Input(shape=(3,), name="clicks")
    joined = keras.layers.Concatenate()([age, clicks])
    score = keras.layers.Dense(1, kernel_initializer="ones", name="score")(joined)
    model = keras.Model({"age": age, "clicks": clicks}, score)
    model.export(str(path), verbose=False)
    return path


def keras_two_endpoints(path: Path) -> Path:
    """A Keras 3 ``Dense(2)`` then ``Dense(1)`` (kernels ones) written by ``ExportArchive``
    with two endpoints: ``predict`` (the model, [N, 1]) and ``embed`` (the hidden layer,
    [N, 2]), both on ``features`` [N, 4]."""
    import keras
    import tensorflow as tf

    features = keras.Input(shape=(4,), name="features")
    hidden = keras.layers.Dense(2, kernel_initializer="ones", name="hidden")(features)
    output = keras.layers.Dense(1, kernel_initializer="ones", name="out")(hidden)
    model = keras.Model(features, output)
    embedder = keras.Model(features, hidden)
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = [tf.TensorSpec([None, 4], tf.float32, name="features")]
    archive.add_endpoint(name="predict", fn=model.call, input_signature=spec)
    archive.add_endpoint(name="embed", fn=embedder.call, input_signature=spec)
    archive.write_out(str(path), verbose=False)
    return path


def module_signatures(path: Path) -> Path:
    """A ``tf.Module`` with two signatures. ``serving_default`` takes a dict of features
    (``age`` float [N], ``clicks`` int64 [N, 3]) and returns a dict (``score`` =
    ``age + sum(clicks)`` float [N], ``busy`` = ``sum(clicks) > 5`` bool [N]);
    ``clicks_total`` takes ``clicks`` alone and returns ``total`` int64 [N]."""
    import tensorflow as tf

    class Scorer(tf.Module):
        @tf.function(
            input_signature=[
                {
                    "age": tf.TensorSpec([None], tf.float32, name="age"),
                    "clicks": tf.TensorSpec([None, 3], tf.int64, name="clicks"),
                }
            ]
        )
        def score(self, features: Any) -> Any:
            total = tf.reduce_sum(features["clicks"], axis=1)
            return {
                "score": features["age"] + tf.cast(total, tf.float32),
                "busy": total > 5,
            }

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.int64, name="clicks")])
        def clicks_total(self, clicks: Any) -> Any:
            return {"total": tf.reduce_sum(clicks, axis=1)}

    module = Scorer()
    signatures = {"serving_default": module.score, "clicks_total": module.clicks_total}
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


def parses_examples(path: Path) -> Path:
    """The TFX convention: ``serving_default`` takes serialized ``tf.train.Example`` protos
    (``examples``, string [N]) with an int64 feature ``clicks`` and a string feature ``city``,
    and returns ``score`` (``2 clicks``, float [N, 1]) and ``city`` (upper-cased, string
    [N, 1])."""
    import tensorflow as tf

    spec = {
        "clicks": tf.io.FixedLenFeature([1], tf.int64),
        "city": tf.io.FixedLenFeature([1], tf.string),
    }

    class Parser(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples: Any) -> Any:
            features = tf.io.parse_example(examples, spec)
            return {
                "score": 2.0 * tf.cast(features["clicks"], tf.float32),
                "city": tf.strings.upper(features["city"]),
            }

    module = Parser()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def strings(path: Path) -> Path:
    """String tensors in and out: ``text`` (string [N]) -> ``length`` (int32 [N]) and
    ``upper`` (string [N])."""
    import tensorflow as tf

    class Text(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text: Any) -> Any:
            return {"length": tf.strings.length(text), "upper": tf.strings.upper(text)}

    module = Text()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def fixed_batch(path: Path, batch: int = 4) -> Path:
    """``y = x + 1`` on ``x`` float [batch, 3]: a signature with a static batch size."""
    import tensorflow as tf

    class Fixed(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([batch, 3], tf.float32, name="x")])
        def serve(self, x: Any) -> Any:
            return {"y": x + 1.0}

    module = Fixed()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def batch_scalar(path: Path) -> Path:
    """Outputs without a batch axis: ``serving_default`` returns ``y`` (``2x``, [N, 2]) and
    ``mean`` (the batch's mean, a scalar); ``mean_only`` returns ``mean`` alone."""
    import tensorflow as tf

    class Scalar(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def serve(self, x: Any) -> Any:
            return {"y": 2.0 * x, "mean": tf.reduce_mean(x)}

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def mean_only(self, x: Any) -> Any:
            return {"mean": tf.reduce_mean(x)}

    module = Scalar()
    signatures = {"serving_default": module.serve, "mean_only": module.mean_only}
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


BUILDERS = (
    keras_dict_inputs,
    keras_two_endpoints,
    module_signatures,
    parses_examples,
    strings,
    fixed_batch,
    batch_scalar,
)


def build_all(base: Path) -> dict[str, Path]:
    """Every SavedModel above by name, under ``base``."""
    return {builder.__name__: builder(base / builder.__name__) for builder in BUILDERS}


def example(**features: Any) -> bytes:
    """A serialized ``tf.train.Example`` (ints as int64 lists, text as bytes lists)."""
    import tensorflow as tf

    def feature(value: Any) -> Any:
        if isinstance(value, str):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    proto = tf.train.Example(
        features=tf.train.Features(feature={k: feature(v) for k, v in features.items()})
    )
    return proto.SerializeToString()  # type: ignore[no-any-return]
