"""Jester (or a synthetic set in its layout) -> TFRecords -> tf.data input pipelines."""
