// Package cowfs is the copy-on-write workdir: a layer (an overlayfs upper directory and its
// work directory) over a workdir, what the layer changed (Changes: the seed's A/M/D list), and
// what happens to it when the sandbox ends: Commit (all-or-nothing with a journal, refused
// with ErrBranchConflict when the workdir changed under the layer's paths since the layer was
// made), Abort (the layer is removed) or Keep (left in fs_storage for `sandlock-runtime cow`).
//
// The package does not mount: lifecycle mounts the overlay in the sandbox's private mount
// namespace (docs/design.md, "The copy-on-write workdir"). Everything here works on plain
// directories and is safe to run again after a crash at any point (Recover).
package cowfs
