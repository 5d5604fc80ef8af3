package onebed_test

import (
	"fmt"

	"github.com/upgradekit/upgradekit/internal/onebed"
)

// OpenNebula answers every call with [success, value, code]; OneResult
// turns a refusal into an *APIError.
func ExampleDecodeResponse() {
	raw := `<methodResponse><params><param><value><array><data>
<value><boolean>0</boolean></value>
<value>[one.document.allocate] Cannot process request, no leader found</value>
<value><i4>8192</i4></value>
</data></array></value></param></params></methodResponse>`
	v, err := onebed.DecodeResponse([]byte(raw))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = onebed.OneResult("one.document.allocate", v)
	fmt.Println(err)
	// Output:
	// one.document.allocate: [one.document.allocate] Cannot process request, no leader found (code 0x2000)
}
