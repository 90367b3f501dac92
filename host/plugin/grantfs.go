package plugin

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// The prefixes of an allow_paths host directory: read-write is an explicit
// opt-in, read-only the default (ro: is accepted and changes nothing).
const (
	PathReadWrite = "rw:"
	PathReadOnly  = "ro:"
)

// mount is one directory granted to a plugin.
type mount struct {
	HostDir  string // directory on the node
	GuestDir string // where the guest sees it
	Write    bool   // read-write (rw:); read-only otherwise
}

// parseMounts parses an allow_paths option: host directory (with an
// optional rw: or ro: prefix) → guest directory, sorted by guest path.
func parseMounts(paths map[string]string) ([]mount, error) {
	var out []mount
	for host, guest := range paths {
		m := mount{HostDir: host, GuestDir: guest}
		if h, ok := strings.CutPrefix(host, PathReadWrite); ok {
			m.HostDir, m.Write = h, true
		} else if h, ok := strings.CutPrefix(host, PathReadOnly); ok {
			m.HostDir = h
		}
		if !filepath.IsAbs(m.HostDir) {
			return nil, fmt.Errorf("allow_paths: host directory %q must be an absolute path", m.HostDir)
		}
		if !path.IsAbs(m.GuestDir) {
			return nil, fmt.Errorf("allow_paths: guest directory %q must be an absolute path", m.GuestDir)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b mount) int { return strings.Compare(a.GuestDir, b.GuestDir) })
	return out, nil
}

// grantedFS is the filesystem a plugin sees: one os.Root per mount, so no
// path, ".." or symbolic link resolves outside the granted directory,
// whoever made the link. Closing it closes the roots.
type grantedFS struct {
	config wazero.FSConfig
	roots  []*os.Root
}

// openGrants opens the mounts of paths; an empty paths grants nothing.
func openGrants(paths map[string]string) (*grantedFS, error) {
	mounts, err := parseMounts(paths)
	if err != nil {
		return nil, err
	}
	g := &grantedFS{config: wazero.NewFSConfig()}
	for _, m := range mounts {
		root, err := os.OpenRoot(m.HostDir)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("allow_paths %s: %w", m.HostDir, err)
		}
		g.roots = append(g.roots, root)
		var fsys experimentalsys.FS = rootFS{root: root}
		if !m.Write {
			fsys = &sysfs.ReadFS{FS: fsys}
		}
		g.config = g.config.(sysfs.FSConfig).WithSysFSMount(fsys, m.GuestDir)
	}
	return g, nil
}

func (g *grantedFS) empty() bool { return len(g.roots) == 0 }

func (g *grantedFS) close() {
	for _, r := range g.roots {
		r.Close()
	}
}

// rootFS is a wazero filesystem over an os.Root. It refuses to create a
// symbolic link whose target is absolute or climbs with "..", and os.Root
// refuses to follow any link, however made, out of the directory.
type rootFS struct {
	experimentalsys.UnimplementedFS
	root *os.Root
}

var _ experimentalsys.FS = rootFS{}

// rel is a guest path as os.Root takes it.
func rel(name string) string {
	name = strings.TrimLeft(name, "/")
	if name == "" {
		return "."
	}
	return name
}

// errno is err as a WASI error; an escape from the root is EPERM.
func errno(err error) experimentalsys.Errno {
	e := experimentalsys.UnwrapOSError(err)
	if e == experimentalsys.EIO && err != nil && strings.Contains(err.Error(), "escapes") {
		return experimentalsys.EPERM
	}
	return e
}

// OpenFile opens name inside the root.
func (r rootFS) OpenFile(name string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	f, err := r.root.OpenFile(rel(name), osFlag(flag), perm)
	if err != nil {
		return nil, errno(err)
	}
	// wazero's adapter serves reads, writes, seeks and listings of the open
	// file; a directory rewound is opened again through the root.
	inner, e := (&sysfs.AdaptFS{FS: &opened{root: r.root, f: f}}).OpenFile(rel(name), experimentalsys.O_RDONLY, 0)
	if e != 0 {
		f.Close()
		return nil, e
	}
	return &rootFile{File: inner, f: f, append: flag&experimentalsys.O_APPEND != 0}, 0
}

// opened is an fs.FS whose first Open is a file already opened; later
// ones open through the root.
type opened struct {
	root *os.Root
	f    *os.File
}

func (o *opened) Open(name string) (fs.File, error) {
	if f := o.f; f != nil {
		o.f = nil
		return f, nil
	}
	return o.root.Open(name)
}

// osFlag translates WASI open flags to the os package's.
func osFlag(f experimentalsys.Oflag) int {
	var out int
	switch {
	case f&experimentalsys.O_RDWR != 0:
		out = os.O_RDWR
	case f&experimentalsys.O_WRONLY != 0:
		out = os.O_WRONLY
	default:
		out = os.O_RDONLY
	}
	for _, m := range []struct {
		w  experimentalsys.Oflag
		os int
	}{
		{experimentalsys.O_APPEND, os.O_APPEND}, {experimentalsys.O_CREAT, os.O_CREATE},
		{experimentalsys.O_EXCL, os.O_EXCL}, {experimentalsys.O_TRUNC, os.O_TRUNC},
		{experimentalsys.O_SYNC, os.O_SYNC}, {experimentalsys.O_DSYNC, os.O_SYNC},
	} {
		if f&m.w != 0 {
			out |= m.os
		}
	}
	return out
}

// Lstat stats name without following a final link.
func (r rootFS) Lstat(name string) (sys.Stat_t, experimentalsys.Errno) {
	fi, err := r.root.Lstat(rel(name))
	if err != nil {
		return sys.Stat_t{}, errno(err)
	}
	return sys.NewStat_t(fi), 0
}

// Stat stats name, following links that stay inside the root.
func (r rootFS) Stat(name string) (sys.Stat_t, experimentalsys.Errno) {
	fi, err := r.root.Stat(rel(name))
	if err != nil {
		return sys.Stat_t{}, errno(err)
	}
	return sys.NewStat_t(fi), 0
}

// Mkdir makes a directory.
func (r rootFS) Mkdir(name string, perm fs.FileMode) experimentalsys.Errno {
	return errno(r.root.Mkdir(rel(name), perm))
}

// Chmod changes a mode.
func (r rootFS) Chmod(name string, perm fs.FileMode) experimentalsys.Errno {
	return errno(r.root.Chmod(rel(name), perm))
}

// Rename renames inside the root.
func (r rootFS) Rename(from, to string) experimentalsys.Errno {
	return errno(r.root.Rename(rel(from), rel(to)))
}

// Rmdir removes an empty directory.
func (r rootFS) Rmdir(name string) experimentalsys.Errno {
	fi, err := r.root.Lstat(rel(name))
	if err != nil {
		return errno(err)
	}
	if !fi.IsDir() {
		return experimentalsys.ENOTDIR
	}
	return errno(r.root.Remove(rel(name)))
}

// Unlink removes a file or link.
func (r rootFS) Unlink(name string) experimentalsys.Errno {
	fi, err := r.root.Lstat(rel(name))
	if err != nil {
		return errno(err)
	}
	if fi.IsDir() {
		return experimentalsys.EISDIR
	}
	return errno(r.root.Remove(rel(name)))
}

// Link makes a hard link; both names are inside the root.
func (r rootFS) Link(oldName, newName string) experimentalsys.Errno {
	return errno(r.root.Link(rel(oldName), rel(newName)))
}

// Symlink makes a link to target, refusing targets that could point out
// of the grant: absolute ones and ones with a ".." element.
func (r rootFS) Symlink(target, link string) experimentalsys.Errno {
	if !localTarget(target) {
		return experimentalsys.EPERM
	}
	return errno(r.root.Symlink(target, rel(link)))
}

// localTarget reports whether a link target stays below the link's own
// directory, whatever that directory is.
func localTarget(target string) bool {
	if target == "" || path.IsAbs(target) || filepath.IsAbs(target) || strings.Contains(target, `\`) {
		return false
	}
	return !slices.Contains(strings.Split(target, "/"), "..")
}

// Readlink reads a link.
func (r rootFS) Readlink(name string) (string, experimentalsys.Errno) {
	s, err := r.root.Readlink(rel(name))
	return s, errno(err)
}

// Utimens sets access and modification times (nanoseconds; UTIME_OMIT
// leaves one alone).
func (r rootFS) Utimens(name string, atim, mtim int64) experimentalsys.Errno {
	return errno(r.root.Chtimes(rel(name), wasiTime(atim), wasiTime(mtim)))
}

func wasiTime(ns int64) time.Time {
	if ns == experimentalsys.UTIME_OMIT {
		return time.Time{} // os: the zero time changes nothing
	}
	return time.Unix(0, ns)
}

// rootFile is a file opened through a rootFS: wazero's adapter of an
// fs.File, plus what the adapter cannot do.
type rootFile struct {
	experimentalsys.File
	f      *os.File
	append bool
}

// IsAppend reports whether writes append.
func (f *rootFile) IsAppend() bool { return f.append }

// SetAppend cannot change an open file's mode.
func (f *rootFile) SetAppend(on bool) experimentalsys.Errno {
	if on == f.append {
		return 0
	}
	return experimentalsys.ENOSYS
}

// Truncate sets the file's size.
func (f *rootFile) Truncate(size int64) experimentalsys.Errno { return errno(f.f.Truncate(size)) }

// Sync flushes the file.
func (f *rootFile) Sync() experimentalsys.Errno { return errno(f.f.Sync()) }

// Datasync flushes the file's data.
func (f *rootFile) Datasync() experimentalsys.Errno { return errno(f.f.Sync()) }
