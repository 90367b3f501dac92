module github.com/ppcmesh/mesh

go 1.26
