"""The one home of a run directory's files.

- `paths`: the file names (config.json, checkpoints/, final_metrics.json,
  data.json, evaluation.json);
- `files`: atomic text/JSON writers and JSON readers;
- `rundir`: the resume / refuse / overwrite rules, the run's config and
  data spec;
- `checkpoints`: finding checkpoint prefixes without TensorFlow;
- `versions`: integer version directories (SavedModel exports).

Nothing here imports TensorFlow.
"""
