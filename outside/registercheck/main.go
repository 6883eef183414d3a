// Command registercheck judges a register history exported by
// `raftctl check RUN --export porcupine` (history.porcupine.json) with
// Porcupine, an outside linearizability checker, against our register model:
// read, write, and cas whose failed comparisons are observations, with
// absent told apart from "". It prints one JSON line:
// {"verdict": "valid"|"invalid"|"unknown", "operations": N, "keys": K}
// and exits 0 valid, 1 invalid, 5 unknown, 2 for a file it cannot read.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

// input and output mirror raftctl.chaos.export's Porcupine shape.
type input struct {
	Op           int
	Key          string
	Value        string
	Expected     string
	ExpectAbsent bool
}

type output struct {
	Value   string
	Absent  bool
	Ok      *bool
	Unknown bool
}

type operation struct {
	ClientId int
	Input    input
	Call     int64
	Output   output
	Return   int64
}

// register is one key's state: absent, or holding value.
type register struct {
	absent bool
	value  string
}

const (
	opRead  = 0
	opWrite = 1
	opCas   = 3
)

func step(state, in, out interface{}) (bool, interface{}) {
	current := state.(register)
	given := in.(input)
	seen := out.(output)
	switch given.Op {
	case opRead:
		if seen.Absent {
			return current.absent, current
		}
		return !current.absent && current.value == seen.Value, current
	case opWrite:
		return true, register{value: given.Value}
	case opCas:
		holds := current.absent
		if !given.ExpectAbsent {
			holds = !current.absent && current.value == given.Expected
		}
		next := register{value: given.Value}
		switch {
		case seen.Unknown: // it took effect where its comparison held, or never
			if holds {
				return true, next
			}
			return true, current
		case seen.Ok != nil && !*seen.Ok: // a failed comparison: an observation
			return !holds, current
		default:
			if holds {
				return true, next
			}
			return false, current
		}
	}
	return false, current
}

func partition(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range history {
		key := op.Input.(input).Key
		if _, seen := byKey[key]; !seen {
			keys = append(keys, key)
		}
		byKey[key] = append(byKey[key], op)
	}
	partitions := make([][]porcupine.Operation, 0, len(keys))
	for _, key := range keys {
		partitions = append(partitions, byKey[key])
	}
	return partitions
}

var model = porcupine.Model{
	Partition: partition,
	Init:      func() interface{} { return register{absent: true} },
	Step:      step,
	Equal:     func(a, b interface{}) bool { return a.(register) == b.(register) },
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: registercheck history.porcupine.json")
		os.Exit(2)
	}
	text, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "registercheck: %v\n", err)
		os.Exit(2)
	}
	var ops []operation
	if err := json.Unmarshal(text, &ops); err != nil {
		fmt.Fprintf(os.Stderr, "registercheck: %s is not a Porcupine history: %v\n", os.Args[1], err)
		os.Exit(2)
	}
	history := make([]porcupine.Operation, 0, len(ops))
	keys := map[string]bool{}
	for _, op := range ops {
		keys[op.Input.Key] = true
		history = append(history, porcupine.Operation{
			ClientId: op.ClientId, Input: op.Input, Call: op.Call, Output: op.Output, Return: op.Return,
		})
	}
	verdict, code := "unknown", 5
	switch porcupine.CheckOperationsTimeout(model, history, 60*time.Second) {
	case porcupine.Ok:
		verdict, code = "valid", 0
	case porcupine.Illegal:
		verdict, code = "invalid", 1
	}
	if len(history) == 0 {
		verdict, code = "unknown", 5 // nothing to judge proves nothing
	}
	line, _ := json.Marshal(map[string]interface{}{
		"verdict": verdict, "operations": len(history), "keys": len(keys),
	})
	fmt.Println(string(line))
	os.Exit(code)
}
