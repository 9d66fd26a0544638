package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
)

// Template names: the mails passbridge sends. Each has a text part
// (NAME.txt, which also defines the "subject" template) and an HTML part
// (NAME.html).
const (
	TemplateInvitation        = "invitation"
	TemplateReminder          = "reminder"
	TemplateTerminationNotice = "terminationNotice"
	TemplateTerminated        = "terminated"
	TemplateInactivityNotice  = "inactivityNotice"
	TemplateDisabled          = "disabled"
)

// TemplateNames lists every template, in the order of the lifecycle.
var TemplateNames = []string{TemplateInvitation, TemplateReminder, TemplateTerminationNotice,
	TemplateTerminated, TemplateInactivityNotice, TemplateDisabled}

// DataKeys are the values a template may use ({{.DisplayName}} …). Every
// key is always present (empty when the mail has no value for it), so a
// template that names a key not listed here fails when it is checked.
var DataKeys = []string{"DisplayName", "Email", "RedeemURL", "RedirectURL", "ExpiresAt",
	"DeleteAt", "LastSignInAt", "Reason", "Message"}

//go:embed templates/*.txt templates/*.html
var embedded embed.FS

// Templates are the parsed text and HTML templates of every mail.
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
	// Overridden lists the files of the override folder that replaced an
	// embedded template.
	Overridden []string
}

// TemplateError is a template that does not parse or does not render.
type TemplateError struct {
	File string // the file's path (an override) or embedded name
	Err  error
}

func (e *TemplateError) Error() string { return fmt.Sprintf("mail template %s: %v", e.File, e.Err) }
func (e *TemplateError) Unwrap() error { return e.Err }

// LoadTemplates parses the embedded templates and, when dir is not empty,
// the files in dir that override them (NAME.txt, NAME.html for the names in
// TemplateNames). Every template is rendered once with sample data, so that
// a broken override is found at start, not when the first mail is due. A
// file in dir whose name is not a template's is an error too (a misspelt
// override would otherwise be ignored). Errors are *TemplateError, joined.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	var errs []error
	overrides := map[string]string{} // file name → path
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, &TemplateError{File: dir, Err: fmt.Errorf("read the template folder: %w", err)}
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			name := e.Name()
			base, ext := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name)
			if !slices.Contains(TemplateNames, base) || (ext != ".txt" && ext != ".html") {
				errs = append(errs, &TemplateError{File: filepath.Join(dir, name),
					Err: fmt.Errorf("is not a template: name overrides NAME.txt or NAME.html, NAME one of %s", strings.Join(TemplateNames, ", "))})
				continue
			}
			overrides[name] = filepath.Join(dir, name)
		}
	}
	read := func(file string) (src []byte, origin string, err error) {
		if p, ok := overrides[file]; ok {
			b, err := os.ReadFile(p)
			return b, p, err
		}
		b, err := fs.ReadFile(embedded, "templates/"+file)
		return b, "embedded " + file, err
	}
	sample := sampleData()
	for _, name := range TemplateNames {
		if src, origin, err := read(name + ".txt"); err != nil {
			errs = append(errs, &TemplateError{File: origin, Err: err})
		} else if tt, err := texttemplate.New(name).Option("missingkey=error").Parse(string(src)); err != nil {
			errs = append(errs, &TemplateError{File: origin, Err: err})
		} else if tt.Lookup("subject") == nil {
			errs = append(errs, &TemplateError{File: origin, Err: errors.New(`defines no subject: start it with {{define "subject"}}…{{end}}`)})
		} else if _, _, err := renderText(tt, sample); err != nil {
			errs = append(errs, &TemplateError{File: origin, Err: err})
		} else {
			t.text[name] = tt
			if _, ok := overrides[name+".txt"]; ok {
				t.Overridden = append(t.Overridden, origin)
			}
		}
		if src, origin, err := read(name + ".html"); err != nil {
			errs = append(errs, &TemplateError{File: origin, Err: err})
		} else if ht, err := htmltemplate.New(name).Option("missingkey=error").Parse(string(src)); err != nil {
			errs = append(errs, &TemplateError{File: origin, Err: err})
		} else if err := ht.Execute(&bytes.Buffer{}, sample); err != nil {
			errs = append(errs, &TemplateError{File: origin, Err: err})
		} else {
			t.html[name] = ht
			if _, ok := overrides[name+".html"]; ok {
				t.Overridden = append(t.Overridden, origin)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// CheckTemplates reports whether the templates load with the overrides in
// dir (see LoadTemplates); config validate calls it.
func CheckTemplates(dir string) error {
	_, err := LoadTemplates(dir)
	return err
}

func sampleData() map[string]string {
	d := make(map[string]string, len(DataKeys))
	for _, k := range DataKeys {
		d[k] = "sample " + k
	}
	d["RedeemURL"] = "https://login.microsoftonline.com/redeem?rd=sample"
	d["RedirectURL"] = "https://myapps.microsoft.com"
	return d
}

func renderText(t *texttemplate.Template, data map[string]string) (subject, body string, err error) {
	var s, b bytes.Buffer
	if err := t.ExecuteTemplate(&s, "subject", data); err != nil {
		return "", "", err
	}
	if err := t.Execute(&b, data); err != nil {
		return "", "", err
	}
	// A subject is one line: a template's stray newline must not start the
	// headers' end.
	subject = strings.Join(strings.Fields(s.String()), " ")
	return subject, strings.TrimLeft(b.String(), "\n"), nil
}

// Rendered is a mail ready to send.
type Rendered struct {
	MessageID string // without angle brackets
	To        string
	ToName    string
	Subject   string
	Text      string
	HTML      string
}

// Render renders message m. Keys of m.Data not in DataKeys are passed on;
// keys missing are empty.
func (t *Templates) Render(m Message) (Rendered, error) {
	tt, ok := t.text[m.Template]
	ht := t.html[m.Template]
	if !ok || ht == nil {
		return Rendered{}, fmt.Errorf("mail: unknown template %q (one of %s)", m.Template, strings.Join(TemplateNames, ", "))
	}
	data := make(map[string]string, len(DataKeys)+len(m.Data))
	for _, k := range DataKeys {
		data[k] = ""
	}
	for k, v := range m.Data {
		data[k] = v
	}
	if data["Email"] == "" {
		data["Email"] = m.To
	}
	if data["DisplayName"] == "" {
		data["DisplayName"] = m.ToName
	}
	subject, text, err := renderText(tt, data)
	if err != nil {
		return Rendered{}, fmt.Errorf("mail: render %s.txt: %w", m.Template, err)
	}
	var h bytes.Buffer
	if err := ht.Execute(&h, data); err != nil {
		return Rendered{}, fmt.Errorf("mail: render %s.html: %w", m.Template, err)
	}
	return Rendered{To: m.To, ToName: m.ToName, Subject: subject, Text: text, HTML: h.String()}, nil
}
