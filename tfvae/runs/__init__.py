"""The one home of a run directory's files.

- `paths`: the file names (config.json, checkpoints/, final_metrics.json,
  data.json, evaluation.json);
- `files`: atomic text/JSON writers and JSON readers;
- `rundir`: the resume / refuse / overwrite rules, the run's config and
  data spec;
- `checkpoint_files`: finding checkpoint prefixes without TensorFlow;
- `checkpoints`: saving and restoring a model's checkpoints (TensorFlow);
- `versions`: integer version directories (SavedModel exports).

Only `checkpoints` imports TensorFlow.
"""
