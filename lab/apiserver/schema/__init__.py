"""Custom-resource schemas as apiextensions-apiserver applies them: prune, default, validate.

Pure. No I/O. `structural` compiles a CRD version's openAPIV3Schema (refusing what it cannot
enforce), `pruning` and `defaulting` shape an object the way the CR decoder does, `validation`,
`listtypes` and `rules` find every field error, `fields` renders them as apimachinery's
field.Error, and `customresources` runs the whole pipeline for one write. `times` is the
metav1.Time/MicroTime decoder that built-in kinds share.
"""
