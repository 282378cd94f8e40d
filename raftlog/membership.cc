#include "raftlog/raft.h"
