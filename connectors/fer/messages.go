package fer

import "encoding/xml"

// NS is the namespace of every ФЭР message (schema/er-schema.xsd).
const NS = "http://www.rt-eu.ru/med/er/v2_0"

// Operation names, as the WSDL and SOAPAction name them; the request element is
// <name>Request and the response <name>Response.
const (
	OpGetPatientInfo        = "GetPatientInfo"
	OpGetReferralInfo       = "GetReferralInfo"
	OpGetMOInfoExtended     = "GetMOInfoExtended"
	OpGetServicePostSpecs   = "GetServicePostSpecsInfo"
	OpGetMOResourceInfo     = "GetMOResourceInfo"
	OpGetScheduleInfo       = "GetScheduleInfo"
	OpCreateAppointment     = "CreateAppointment"
	OpCancelAppointment     = "CancelAppointment"
	OpReferralAppointmentIn = "ReferralAppointmentInformation"
)

// Operations lists every operation of the schema, in the order the WSDL lists them.
var Operations = []string{
	OpGetPatientInfo, OpGetReferralInfo, OpGetMOInfoExtended, OpGetServicePostSpecs,
	OpGetMOResourceInfo, OpGetScheduleInfo, OpCreateAppointment, OpCancelAppointment,
	OpReferralAppointmentIn,
}

// ---- shared types (er-common.xsd) ----

// PatientData is er:Patient_Data.
type PatientData struct {
	OMSNumber  string `xml:"OMS_Number,omitempty"`
	OMSSeries  string `xml:"OMS_Series,omitempty"`
	SNILS      string `xml:"SNILS,omitempty"`
	FirstName  string `xml:"First_Name"`
	LastName   string `xml:"Last_Name"`
	MiddleName string `xml:"Middle_Name,omitempty"`
	BirthDate  string `xml:"Birth_Date"`
	Sex        string `xml:"Sex"`
	Email      string `xml:"Email,omitempty"`
	Phone      string `xml:"Phone,omitempty"`
}

// Post is er:Post.
type Post struct {
	PostID string `xml:"Post_Id"`
}

// Service is er:Service.
type Service struct {
	ServiceID string       `xml:"Service_Id"`
	AddInfo   *AddInfoServ `xml:"Add_Info_Service,omitempty"`
}

// AddInfoServ is er:Add_Info_Service.
type AddInfoServ struct {
	InnerID   string `xml:"Inner_Id"`
	InnerName string `xml:"Inner_Name"`
}

// ServicesInfo is er:Services_Info.
type ServicesInfo struct {
	Services []Service `xml:"Service"`
}

// ServicePost is er:Service_Post.
type ServicePost struct {
	Post         Post          `xml:"Post"`
	ServicesInfo *ServicesInfo `xml:"Services_Info,omitempty"`
}

// ServiceSpecialty is er:Service_Specialty.
type ServiceSpecialty struct {
	SpecialtyID  string        `xml:"Specialty_Id"`
	ServicesInfo *ServicesInfo `xml:"Services_Info"`
}

// ServicePosts is er:Service_Posts.
type ServicePosts struct {
	Posts        []Post        `xml:"Post"`
	ServicesInfo *ServicesInfo `xml:"Services_Info,omitempty"`
}

// MO is er:MO_Param_Age.
type MO struct {
	MOID      string `xml:"MO_Id"`
	MOOID     string `xml:"MO_OID"`
	MOName    string `xml:"MO_Name"`
	MOAddress string `xml:"MO_Address"`
	MOPhone   string `xml:"MO_Phone,omitempty"`
}

// ErrorType is er:Error_Type.
type ErrorType struct {
	Code       string           `xml:"Error_Code"`
	Message    string           `xml:"Error_Message"`
	Validation *ValidationError `xml:"Validation_Error,omitempty"`
}

// ValidationError is er:Validation_Error_Type.
type ValidationError struct {
	Message string `xml:"Message"`
	Path    string `xml:"Path,omitempty"`
	Value   string `xml:"Value,omitempty"`
}

// Status is er:Status.
type Status struct {
	Code    string `xml:"Status_Code"`
	Comment string `xml:"Comment,omitempty"`
}

// ---- requests ----

type getPatientInfoReq struct {
	SessionID string      `xml:"Session_ID"`
	Patient   PatientData `xml:"Patient_Data"`
}

type getMOInfoReq struct {
	SessionID        string            `xml:"Session_ID"`
	ServicePosts     *ServicePosts     `xml:"Service_Posts"`
	ServiceSpecialty *ServiceSpecialty `xml:"Service_Specialty"`
}

type getServicePostSpecsReq struct {
	SessionID string `xml:"Session_ID"`
	MOID      string `xml:"MO_Id"`
}

type getMOResourceReq struct {
	SessionID        string            `xml:"Session_ID"`
	ServicePosts     *ServicePosts     `xml:"Service_Posts"`
	ServiceSpecialty *ServiceSpecialty `xml:"Service_Specialty"`
	MOOIDs           []string          `xml:"MO_OID_List>MO_OID"`
	StartDate        string            `xml:"Start_Date_Range"`
	EndDate          string            `xml:"End_Date_Range"`
}

type getScheduleReq struct {
	SessionID        string            `xml:"Session_ID"`
	SNILS            *string           `xml:"Specialist_SNILS"`
	RoomOID          *string           `xml:"Room_OID"`
	MOOID            string            `xml:"MO_OID"`
	ServicePost      *ServicePost      `xml:"Service_Post"`
	ServiceSpecialty *ServiceSpecialty `xml:"Service_Specialty"`
	StartDate        string            `xml:"Start_Date_Range"`
	EndDate          string            `xml:"End_Date_Range"`
	StartTime        string            `xml:"Start_Time_Range"`
	EndTime          string            `xml:"End_Time_Range"`
}

type createReq struct {
	SessionID string `xml:"Session_ID"`
	SlotID    string `xml:"Slot_Id"`
}

type cancelReq struct {
	BookID string `xml:"Book_Id_Mis"`
	Reason string `xml:"Canceled_Reason"`
}

type sessionOnlyReq struct {
	SessionID string `xml:"Session_ID"`
}

type referralAppReq struct {
	BookID string `xml:"Book_Id_Mis"`
}

// ---- responses ----

type getPatientInfoResp struct {
	XMLName   xml.Name   `xml:"http://www.rt-eu.ru/med/er/v2_0 GetPatientInfoResponse"`
	SessionID string     `xml:"Session_ID"`
	PatientID string     `xml:"Patient_Id,omitempty"`
	Error     *ErrorType `xml:"Error,omitempty"`
}

type getReferralInfoResp struct {
	XMLName   xml.Name   `xml:"http://www.rt-eu.ru/med/er/v2_0 GetReferralInfoResponse"`
	SessionID string     `xml:"Session_ID"`
	Error     *ErrorType `xml:"Error"`
}

type getMOInfoResp struct {
	XMLName   xml.Name   `xml:"http://www.rt-eu.ru/med/er/v2_0 GetMOInfoExtendedResponse"`
	SessionID string     `xml:"Session_ID"`
	MOList    *moList    `xml:"MO_List,omitempty"`
	Error     *ErrorType `xml:"Error,omitempty"`
}

// ServicePostSpecs is er:Service_Post_Specs (an unbounded choice: posts, then specialties).
type ServicePostSpecs struct {
	Posts       []ServicePost      `xml:"Service_Post"`
	Specialties []ServiceSpecialty `xml:"Service_Specialty"`
}

type getServicePostSpecsResp struct {
	XMLName   xml.Name          `xml:"http://www.rt-eu.ru/med/er/v2_0 GetServicePostSpecsInfoResponse"`
	SessionID string            `xml:"Session_ID"`
	Specs     *ServicePostSpecs `xml:"Service_Post_Specs,omitempty"`
	Error     *ErrorType        `xml:"Error,omitempty"`
}

// Specialist is er:Specialist_Param.
type Specialist struct {
	LastName   string `xml:"Last_Name"`
	FirstName  string `xml:"First_Name"`
	MiddleName string `xml:"Middle_Name,omitempty"`
	SNILS      string `xml:"SNILS"`
	Post       Post   `xml:"Post"`
}

// Resource is er:Resource_Param.
type Resource struct {
	Specialist Specialist      `xml:"Specialist"`
	Dates      *availableDates `xml:"Available_Dates,omitempty"`
}

// MOAvailable is er:MO_Available.
type MOAvailable struct {
	MO        MO         `xml:"MO"`
	Resources []Resource `xml:"Resource_Available>Resource"`
}

type getMOResourceResp struct {
	XMLName   xml.Name      `xml:"http://www.rt-eu.ru/med/er/v2_0 GetMOResourceInfoResponse"`
	SessionID string        `xml:"Session_ID"`
	List      *resourceList `xml:"MO_Resource_List,omitempty"`
	Error     *ErrorType    `xml:"Error,omitempty"`
}

// SlotOut is one free slot of GetScheduleInfoResponse.
type SlotOut struct {
	SlotID    string `xml:"Slot_Id"`
	VisitTime string `xml:"VisitTime"`
	Room      string `xml:"Room,omitempty"`
}

type getScheduleResp struct {
	XMLName   xml.Name   `xml:"http://www.rt-eu.ru/med/er/v2_0 GetScheduleInfoResponse"`
	SessionID string     `xml:"Session_ID"`
	Schedule  *schedule  `xml:"Schedule,omitempty"`
	Error     *ErrorType `xml:"Error,omitempty"`
}

type createResp struct {
	XMLName   xml.Name `xml:"http://www.rt-eu.ru/med/er/v2_0 CreateAppointmentResponse"`
	SessionID string   `xml:"Session_ID"`
	BookID    string   `xml:"Book_Id_Mis"`
	Status    Status   `xml:"Status"`
	SlotID    string   `xml:"Slot_Id"`
	VisitTime string   `xml:"Visit_Time"`
	Room      string   `xml:"Room,omitempty"`
}

type cancelResp struct {
	XMLName xml.Name `xml:"http://www.rt-eu.ru/med/er/v2_0 CancelAppointmentResponse"`
	BookID  string   `xml:"Book_Id_Mis"`
	Code    string   `xml:"Status_Code"`
	Comment string   `xml:"Comment"`
}

type referralAppResp struct {
	XMLName xml.Name `xml:"http://www.rt-eu.ru/med/er/v2_0 ReferralAppointmentInformationResponse"`
	BookID  string   `xml:"Book_Id_Mis"`
	Code    string   `xml:"Status_Code"`
	Comment string   `xml:"Comment"`
}

type moList struct {
	MOs []MO `xml:"MO"`
}

type resourceList struct {
	Items []MOAvailable `xml:"MO_Available"`
}

type schedule struct {
	Slots []SlotOut `xml:"Slots"`
}

type availableDates struct {
	Dates []string `xml:"Available_Date"`
}
