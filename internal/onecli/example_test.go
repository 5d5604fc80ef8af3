package onecli_test

import (
	"encoding/xml"
	"fmt"

	"github.com/upgradekit/upgradekit/internal/onecli"
)

func ExampleDecodeOne() {
	var v struct {
		XMLName xml.Name `xml:"ZONE"`
		ID      int      `xml:"ID"`
	}
	fmt.Println(onecli.DecodeOne([]byte("<ZONE><ID>0</ID></ZONE>\n"), &v), v.ID)
	fmt.Println(onecli.DecodeOne([]byte("<ZONE/><ZONE/>"), &v))
	// Output:
	// <nil> 0
	// more than one root element
}
