"""The one home of a run directory's files.

- `paths`: the file names (config.json, checkpoints/, final_metrics.json,
  data.json, evaluation.json);
- `files`: atomic text/JSON writers and JSON readers;
- `rundir`: the resume / refuse / overwrite rules, and the readers and
  writers of the run's config, data spec and final metrics;
- `checkpoint_files`: finding checkpoint prefixes without TensorFlow;
- `checkpoints`: saving and restoring a model's checkpoints (TensorFlow);
- `restore`: a run's model rebuilt and its checkpoint restored (evaluation,
  export);
- `versions`: integer version directories (SavedModel exports).

Only `checkpoints` and `restore` import TensorFlow (`rundir` when it turns a
config dict into an `ExperimentConfig`).
"""
