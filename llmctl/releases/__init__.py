"""Releases: what llmctl remembers about a deployment between runs, kept in the state backend.

- `backend`: the key/value store behind `state:` (file:// or s3://, the same URL Pulumi uses for
  its own stacks), with an atomic create-if-absent used for locking and revision numbering.
- `revisions`: `RevisionStore`, one record per apply or rollback (spec text, IR, image tags,
  outputs, who, when, git commit, outcome), listed newest first and diffed for `llmctl history`.
- `lock`: `StateLock`, the per-deployment lock that keeps two operations from overlapping
  (exit code 5), and `force_unlock` for `llmctl unlock --force`.

Layout under the state URL (Pulumi's own `.pulumi/` directory sits beside it):

    llmctl/<deployment>/revisions/<N:06d>.json
    llmctl/<deployment>/lock.json
    llmctl/<deployment>/rollout.json
"""
