"""Results out of llmops: DataFrames and files (:mod:`llmops.export.frames`), and MLflow
tracking runs (:mod:`llmops.export.mlflow`)."""
