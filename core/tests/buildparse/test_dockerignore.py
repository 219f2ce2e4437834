""".dockerignore: reading the file and Docker's matching rules (its documented examples first)."""

from __future__ import annotations

import pytest
from berth.dockerignore import (
    DockerignoreError,
    Matcher,
    build_files_to_hide,
    keep_build_files,
    read_patterns,
)


def ignored(patterns: str, path: str) -> bool:
    return Matcher(read_patterns(patterns)).ignored(path)


# (patterns, path, ignored?) — the first rows are the examples of Docker's documentation.
CASES = [
    ("*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "somedir/temp", True),
    ("*/temp*", "temporary.txt", False),
    ("*/temp*", "a/b/temporary.txt", False),
    ("*/*/temp*", "somedir/subdir/temporary.txt", True),
    ("*/*/temp*", "somedir/temporary.txt", False),
    ("temp?", "tempa", True),
    ("temp?", "tempb", True),
    ("temp?", "temp", False),
    ("temp?", "tempab", False),
    ("temp?", "dir/tempa", False),
    ("**/*.go", "main.go", True),
    ("**/*.go", "a/b/c/main.go", True),
    ("**/*.go", "a/b/c/main.gox", False),
    ("*.md\n!README.md", "CHANGES.md", True),
    ("*.md\n!README.md", "README.md", False),
    ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", True),
    ("*.md\n!README*.md\nREADME-secret.md", "README-public.md", False),
    ("*.md\n!README*.md\nREADME-secret.md", "other.md", True),
    ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", False),
    # a pattern matching a directory matches everything under it
    ("build", "build/out/app.o", True),
    ("build", "src/build", False),
    ("build/", "build/x", True),
    ("**/node_modules", "web/node_modules/react/index.js", True),
    # ** forms
    ("**", "anything/at/all", True),
    ("a/**", "a/x/y", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/x/y/c", False),
    ("**/b", "b", True),
    ("**/b", "x/b", True),
    # cleaning: leading /, ./, //, trailing /, .., comments, blanks, spaces
    ("/secret", "secret", True),
    ("./secret", "secret", True),
    ("a//b/", "a/b", True),
    ("a/../b", "b", True),
    ("  spaced  ", "spaced", True),
    ("# secret", "# secret", False),
    ("#secret\n\n", "secret", False),
    (" # not a comment", "# not a comment", True),
    ("!  keep\n*", "keep", True),  # the last match wins: * after the exception
    ("*\n! keep", "keep", False),
    # * and ? never cross a /
    ("*", "top", True),
    ("*.txt", "dir/a.txt", False),
    ("dir/*", "dir/a", True),
    ("?/x", "ab/x", False),
    # classes and escapes
    ("[a-c].txt", "b.txt", True),
    ("[a-c].txt", "d.txt", False),
    ("[^a].txt", "a.txt", False),
    ("[^a].txt", "b.txt", True),
    ("\\*.txt", "*.txt", True),
    ("\\*.txt", "a.txt", False),
    ("a.b", "aXb", False),  # the dot is literal
    ("a+(b)", "a+(b)", True),
    # exceptions within an ignored directory
    ("docs\n!docs/keep.md", "docs/keep.md", False),
    ("docs\n!docs/keep.md", "docs/other.md", True),
]


@pytest.mark.parametrize(("patterns", "path", "expected"), CASES)
def test_matching(patterns: str, path: str, expected: bool) -> None:
    assert ignored(patterns, path) is expected


def test_read_patterns_cleans_and_keeps_order() -> None:
    text = "\ufeff# comment\n/a/\n!./b//c\n\n  d  \n!e\n"
    assert read_patterns(text) == ["a", "!b/c", "d", "!e"]


def test_bad_pattern_is_one_clear_error() -> None:
    with pytest.raises(DockerignoreError, match="bad character class"):
        Matcher(["a[b"])
    with pytest.raises(DockerignoreError, match="illegal exclusion pattern"):
        Matcher(["!"])


def test_descending_into_an_ignored_directory_only_for_an_exception_under_it() -> None:
    matcher = Matcher(read_patterns("docs\n!docs/keep.md\nvendor\n"))
    assert matcher.has_exceptions
    assert matcher.may_include_below("docs")
    assert not matcher.may_include_below("vendor")
    assert not Matcher(["docs"]).has_exceptions


def test_the_dockerfile_and_dockerignore_are_always_kept() -> None:
    patterns = keep_build_files(["*", "!src"], "build/Dockerfile.dev")
    matcher = Matcher(patterns)
    assert not matcher.ignored(".dockerignore")
    assert not matcher.ignored("build/Dockerfile.dev")
    assert matcher.ignored("build/other")
    assert matcher.may_include_below("build")
    assert keep_build_files(["src"], "Dockerfile") == ["src"]


def test_the_daemon_hides_the_build_files_the_patterns_name() -> None:
    text = ".dockerignore\n.dockerfile.0123\n"
    assert build_files_to_hide(text, ".dockerfile.0123") == [".dockerignore", ".dockerfile.0123"]
    assert build_files_to_hide("*.md\n", "Dockerfile") == []
    assert build_files_to_hide("Dockerfile\n", "Dockerfile") == ["Dockerfile"]
    assert build_files_to_hide("", "Dockerfile") == []


# Behaviour pinned by the reference implementation's tests: (pattern, path, matches?) where a
# pattern matching a parent directory counts, as when a context is walked.
REFERENCE = [
    ("**", "file", True),
    ("**/", "file", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**/**", "dir/file", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/dir2/file", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**file", "dir/myfile", True),  # a suffix, as Docker compares it
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\\\", "a\\", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "ab/c", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[^e-g]", "abc", True),
    ("ab[^c]", "abc", False),
    ("a?b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("[a-ζ]*", "\u03b1", True),  # alpha
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("*x", "xxx", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), REFERENCE)
def test_reference_matching(pattern: str, path: str, expected: bool) -> None:
    assert Matcher([pattern]).ignored(path) is expected


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["**", "!util/docker/web"], "util/docker/web/foo", False),
        (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
        (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
        (["!fileutils.go", "*.go"], "fileutils.go", True),
        (["docs", "!docs/README.md"], "docs/README.md", False),
        (["docs/", "!docs/README.md"], "docs/README.md", False),
        (["docs/*", "!docs/README.md"], "docs/README.md", False),
        (["*.go"], ".", False),
    ],
)
def test_reference_exceptions(patterns: list[str], path: str, expected: bool) -> None:
    assert Matcher(patterns).ignored(path) is expected


@pytest.mark.parametrize(
    "pattern", ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "a[b"]
)
def test_reference_bad_patterns(pattern: str) -> None:
    with pytest.raises(DockerignoreError, match="syntax error in pattern"):
        Matcher([pattern])
