package api

import (
	"fmt"
	"net/http"
)

// The numbers of the password rule: CheckPasswordPolicy applies them, and
// GET /api/v1/password-policy tells them to the pages that ask for a new
// password, so that the rule is stated in one place.
const (
	// passwordMin characters are always enough; passwordMinMixed are,
	// with passwordMixedClasses of the four classes (lower case, upper
	// case, digits, others).
	passwordMin          = 12
	passwordMinMixed     = 10
	passwordMixedClasses = 3
	passwordMax          = 256
)

// passwordPolicy serves GET /api/v1/password-policy (public: the login
// page shows it before the session may do anything else): the rule's
// numbers, and the rule in words in the client's language.
func (s *Server) passwordPolicy(w http.ResponseWriter, r *http.Request) {
	rules := []string{
		fmt.Sprintf("at least %d characters, or at least %d with three of lower case, upper case, digits and symbols", passwordMin, passwordMinMixed),
		fmt.Sprintf("at most %d characters", passwordMax),
		"must not contain the user name",
		"must differ from the current one",
	}
	if wantsChinese(r) {
		rules = []string{
			fmt.Sprintf("至少 %d 个字符；或至少 %d 个字符，并包含小写字母、大写字母、数字、符号中的三类", passwordMin, passwordMinMixed),
			fmt.Sprintf("最多 %d 个字符", passwordMax),
			"不能包含用户名",
			"不能与当前密码相同",
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"min_length": passwordMin, "min_length_mixed": passwordMinMixed, "mixed_classes": passwordMixedClasses,
		"max_length": passwordMax, "rules": rules,
	})
}
