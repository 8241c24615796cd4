// Renders an Ollama TEMPLATE the way Ollama's /api/chat does, with Go's own text/template (standard library
// only; tests/test_modelfile.py builds it with `go build`). Reads {"template", "messages": [{"role", "content"}],
// "system"} as JSON on stdin and writes the prompt to stdout, exactly.
//
// Mirrored from Ollama: server/routes.go puts the Modelfile's SYSTEM ("system") in front unless the first message
// is a system message; template/template.go parses with missingkey=zero and a `json` function, collates the
// messages (.System is every system message's content joined by a blank line; consecutive messages of one role,
// tool messages aside, merge into one, their contents joined by a blank line) and executes the template on a map.
// Only the .Messages path is mirrored: Ollama renders a template without .Messages once per turn instead.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "render.go:", err)
	os.Exit(1)
}

func main() {
	var in struct {
		Template string    `json:"template"`
		Messages []Message `json:"messages"`
		System   string    `json:"system"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail(err)
	}
	if !strings.Contains(in.Template, ".Messages") {
		fail(fmt.Errorf("the template does not use .Messages; Ollama's per-turn path for such templates is not mirrored"))
	}
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(template.FuncMap{
		"json": func(v interface{}) string { b, _ := json.Marshal(v); return string(b) },
	}).Parse(in.Template)
	if err != nil {
		fail(err)
	}
	msgs := in.Messages
	if len(msgs) > 0 && msgs[0].Role != "system" && in.System != "" {
		msgs = append([]Message{{Role: "system", Content: in.System}}, msgs...)
	}
	var system []string
	var collated []*Message
	for i := range msgs {
		if msgs[i].Role == "system" {
			system = append(system, msgs[i].Content)
		}
		if n := len(collated); n > 0 && collated[n-1].Role == msgs[i].Role && msgs[i].Role != "tool" {
			collated[n-1].Content += "\n\n" + msgs[i].Content
		} else {
			collated = append(collated, &msgs[i])
		}
	}
	err = tmpl.Execute(os.Stdout, map[string]interface{}{
		"System": strings.Join(system, "\n\n"), "Messages": collated, "Tools": []interface{}(nil), "Response": "",
		"Think": false, "IsThinkSet": false, "Query": "", "Document": "", "Instruction": "",
	})
	if err != nil {
		fail(err)
	}
}
